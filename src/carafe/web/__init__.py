"""The web-app features, side by side: Jinja2 templates, sessions, flashed messages,
CSRF protection and binding submitted forms to models. Each joins an app through
``carafe.extensions``; the core imports none of them."""
