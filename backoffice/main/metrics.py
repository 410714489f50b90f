"""GET /metrics: Prometheus's scrape (backoffice/metrics.py says what and for whom)."""

from __future__ import annotations

from backoffice import metrics
from backoffice.auth.access import public
from backoffice.main import bp


@bp.route("/metrics")
@public  # no account: restricted to METRICS_ALLOWED_NETWORKS or METRICS_TOKEN instead
def scrape():
    return metrics.response()
