"""Inventory: per-warehouse regular and backorder ledgers, allocation without oversell, restocks."""
