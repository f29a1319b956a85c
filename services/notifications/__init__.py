"""Notifications: tells buyers about their backordered items in the app and by email, once (R20-R22)."""
