"""The operator console (``/console``) and the customer's setup portal (``/setup``)."""
