"""Convergence back-office."""

from __future__ import annotations

from typing import Any

from flask import Flask

from config import BASE_DIR, Config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    from backoffice.unitofwork import BackofficeFlask

    app = BackofficeFlask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        instance_path=str(BASE_DIR / "instance"),
    )
    app.config.from_mapping(Config().as_dict())
    if config:
        app.config.from_mapping(config)

    from backoffice import (
        db,
        errors,
        filters,
        frontdoor,
        logs,
        metrics,
        navigation,
        overload,
        security,
        settings_check,
        uploads,
    )
    from backoffice.extensions import babel, csrf, login_manager

    logs.configure_app(app.config)
    db.init_app(app)
    babel.init_app(app, locale_selector=lambda: "fr", timezone_selector=lambda: "Europe/Paris")
    csrf.init_app(app)
    login_manager.init_app(app)
    filters.init_app(app)
    errors.init_app(app)
    navigation.init_app(app)
    uploads.init_app(app)
    security.init_app(app)

    from backoffice.auth import bp as auth_bp
    from backoffice.auth import sessions, throttle

    sessions.init_app(app)
    throttle.init_app(app)
    from backoffice.queues import cache as queue_cache

    queue_cache.init_app(app)
    from backoffice.college import bp as college_bp
    from backoffice.main import bp as main_bp
    from backoffice.public import bp as public_bp
    from backoffice.reviewer import bp as reviewer_bp
    from backoffice.support import bp as support_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(public_bp)
    from backoffice.legal import bp as legal_bp

    app.register_blueprint(legal_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(reviewer_bp, url_prefix="/instruction")
    app.register_blueprint(college_bp, url_prefix="/college")
    app.register_blueprint(support_bp, url_prefix="/support")

    from backoffice import statistics

    statistics.init_app(app)
    from backoffice.api import bp as api_bp

    app.register_blueprint(api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)

    from backoffice.admin import init_admin

    init_admin(app)

    from backoffice.cli import register

    register(app)
    from backoffice import antivirus

    antivirus.init_app(app)  # its `flask analyser-fichiers` command
    from backoffice import tasks

    tasks.init_app(app)  # its `flask pousser-taches` command
    settings_check.init_app(app)  # `flask check-config`
    metrics.init_app(app)
    frontdoor.init_app(app)  # last: ProxyFix, and the request hook that runs first
    overload.init_app(app)  # after it: refuses what is not worth processing, before all
    return app
