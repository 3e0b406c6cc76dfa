"""An authenticated user-account service: sign-up, login and account management."""
