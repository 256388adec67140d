"""The web back office (``/office``) and the agent portal (``/agent``): pages rendered
on the server (Jinja2), on the admin API's app and port, calling the same services
as the API with the same logins, roles and audit log.

``install`` (the routes, the static files, the security headers), ``session`` (the
login cookie and the CSRF token), ``templating`` (money, IST dates, English and
Hindi), ``office`` and ``agent`` (the pages).
"""
