"""``backorder``: the operator CLI."""
