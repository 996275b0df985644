"""The Costs page: its dashboard, budgets and prices."""
