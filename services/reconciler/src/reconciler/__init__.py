"""reconciler: deprovisioning of JIT-only (and JIT-fallback) users, per tenant, on a schedule."""
