"""The only Streamlit-aware code: kit/ for what pages share, a package per page for the rest."""
