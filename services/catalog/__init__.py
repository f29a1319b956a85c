"""Catalog: sellers, listings, SKU listing types, backorder eligibility, caps and handling times."""
