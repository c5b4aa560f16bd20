"""Account data shared by auth (registration, login) and users (creation, lookup)."""
