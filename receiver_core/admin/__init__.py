"""The status and moderation API and admin password handling."""
