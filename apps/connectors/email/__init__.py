"""E-mail through the server-wide SMTP settings (Django's e-mail backend)."""
