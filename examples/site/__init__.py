"""The example web site: sign up, log in, a protected page, a profile form, flash, log out."""
