"""Statistics (/statistiques): backlog, lead times against the delays, rounds and
non-conformities, flows, séances, workload, projection.

- `aggregate`: what the periodic job keeps in stat_weekly / stat_current (incremental
  every few minutes, complete each night), from the raw tables;
- `figures`: the page's tables, read from those aggregates only;
- `naive`: the same tables computed from the raw tables (tests and bench/ compare them);
- `views`: the blueprint (page, exports, exigence drill-down, public figures)."""


def init_app(app):
    """The blueprint at /statistiques and `flask statistiques [--complet]`."""
    import click
    from flask.cli import with_appcontext

    from backoffice.statistics.tables import fr
    from backoffice.statistics.views import bp

    app.register_blueprint(bp, url_prefix="/statistiques")
    app.add_template_filter(fr, "nombre_fr")

    @click.command("statistiques")
    @click.option("--complet", is_flag=True, help="Tout recompter (sinon : deux semaines).")
    @with_appcontext
    def command(complet: bool) -> None:
        """Recount the statistics now (what the periodic job does)."""
        from backoffice.db import db
        from backoffice.statistics.aggregate import rafraichir

        result = rafraichir(complet=complet)
        db.commit()  # a CLI command is its own unit of work
        click.echo(f"{result['weekly']} ligne(s) hebdomadaire(s), {result['current']} "
                   "ligne(s) de l'état actuel.")

    app.cli.add_command(command)
