"""The application's CSRF protection (Flask-WTF): every POST carries the form's token.

One instance, initialised by create_app. A view that mail providers call without a form
(RFC 8058 one-click unsubscribe) is exempted where it is defined: `csrf.exempt(view)`.
"""

from __future__ import annotations

from flask_wtf.csrf import CSRFError, CSRFProtect

__all__ = ["CSRFError", "csrf"]

csrf = CSRFProtect()
