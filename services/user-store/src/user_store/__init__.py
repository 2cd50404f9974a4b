"""user_store."""
