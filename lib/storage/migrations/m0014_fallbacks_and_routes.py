"""Resilience and routing: a fallback's row names the row whose model failed before it; `route`
says why this model was used (a router rule, or why a fallback was needed); `baseline_micro` is
what the same tokens would have cost on the router's top model."""

NAME = "0014_fallbacks_and_routes"
STEP = """
        ALTER TABLE calls ADD COLUMN fallback_of INTEGER;
        ALTER TABLE calls ADD COLUMN route TEXT;
        ALTER TABLE calls ADD COLUMN baseline_micro INTEGER;
        CREATE INDEX calls_routed ON calls (ts) WHERE baseline_micro IS NOT NULL;
    """
