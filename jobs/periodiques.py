"""Periodic work without cron: the job worker (`python -m backoffice.worker`) schedules
it, RQ runs it, each period's job runs once however many workers and hosts there are.

Why not RQ's own cron: RQ 2 has `rq.cron.CronScheduler` (RQ >= 2.5, a separate `rq cron`
process) and `Queue.enqueue_at/enqueue_in` (the scheduled registry, moved to the queues
by the scheduler each worker runs). CronScheduler keeps its timetable in the process:
two of them, one per host, both enqueue every job at every period, and nothing in RQ
stops the second. So each worker runs a small planner thread (`Planificateur`) that cuts
time into slots of each job's period (`int(time() // period)`, the same on every host
whose clock is right) and, at each new slot, *claims* it in Redis (`SET key NX EX`):
the one worker that wins enqueues the job on the `periodiques` queue (job id named after
the slot, too). The job (`executer`) then runs under a second Redis lock held while it
runs (`SET NX PX` with a token, released only by its holder), so that a run that outlasts
its period is never overlapped by the next one. That lock lives LOCK_TTL seconds and is
renewed while the run goes on: a host that dies mid-run (power cut, SIGKILL) blocks its
job for at most LOCK_TTL, not for the run's whole time limit. Each run is written to a
short history in Redis (`historique`).

Embedded mode (no Redis, no worker): nothing is scheduled; the CLI commands stay."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from jobs import _settings, job

log = logging.getLogger(__name__)

QUEUE = "periodiques"
PREFIX = "backoffice:periodique"
HISTORY = 200  # runs kept per periodic job
JOB_TIMEOUT = 30 * 60  # seconds a run may take (RQ kills it after that)
LOCK_TTL = 60  # seconds the run lock outlives its last renewal (every LOCK_TTL / 3)


@dataclass(frozen=True)
class Periodique:
    name: str  # as an operator says it: the CLI command that does the same by hand
    job: str  # "module.function" in the jobs package
    every: int  # seconds, default period (PERIODIC_JOBS overrides)
    doc: str


PERIODIQUES: tuple[Periodique, ...] = (
    Periodique("envoyer-mails", "notifications.vider", 60,
               "envoie les e-mails dont l'envoi est dû (flask send-mails)"),
    Periodique("pousser-taches", "maintenance.pousser_taches", 60,
               "pousse vers Redis les tâches restées en attente (flask pousser-taches)"),
    Periodique("reprendre-emissions", "certificats.rattraper_bloquees", 600,
               "relance les émissions en cours depuis ISSUANCE_RETRY_AFTER_MINUTES"),
    Periodique("reprendre-conventions", "conventions.rattraper_bloquees", 600,
               "relance les envois Yousign et les téléchargements de conventions signées "
               "en suspens depuis CONVENTION_RETRY_AFTER_MINUTES"),
    Periodique("analyser-fichiers", "antivirus.rattraper_en_retard", 900,
               "relance les analyses antivirus en attente ou en erreur"),
    Periodique("purger-temporaires", "maintenance.purger_temporaires", 3600,
               "supprime les fichiers temporaires d'envois interrompus"),
    Periodique("purger-quarantaine", "maintenance.purger_quarantaine", 86400,
               "supprime les fichiers en quarantaine au-delà de QUARANTINE_RETENTION_DAYS"),
    Periodique("purger-exports", "exports.purger", 3600,
               "supprime les fichiers d'export de la file au-delà de EXPORT_RETENTION_HOURS"),
    Periodique("purger-taches", "maintenance.purger_taches", 86400,
               "oublie les tâches envoyées depuis JOB_OUTBOX_RETENTION_DAYS"),
    Periodique("verifier-audit", "audit.checkpoint", 300,
               "vérifie les événements d'audit depuis le dernier point de contrôle et en "
               "écrit un nouveau (flask verify-audit)"),
    Periodique("statistiques", "statistiques.rafraichir", 900,
               "recompte les statistiques des deux dernières semaines, et toutes la nuit "
               "(flask statistiques [--complet])"),
    Periodique("recompter-files", "maintenance.recompter_files", 86400,
               "recalcule les compteurs de la page d'accueil à partir des candidatures "
               "(flask recompter-files)"),
    Periodique("verifier-audit-complet", "audit.verify_chain", 86400,
               "vérifie toute la chaîne d'audit (flask verify-audit --full)"),
    Periodique("resume-activite", "activite.envoyer_resumes", 86400,
               "envoie aux vérificateurs qui l'ont demandé le résumé quotidien de "
               "l'activité de leurs dossiers"),
)
BY_NAME = {p.name: p for p in PERIODIQUES}


def periods() -> dict[str, int]:
    """Each periodic job's period in seconds; PERIODIC_JOBS="envoyer-mails=30,
    purger-quarantaine=0" overrides some (0: not scheduled)."""
    result = {p.name: p.every for p in PERIODIQUES}
    for item in (_settings.text("PERIODIC_JOBS") or "").split(","):
        if not item.strip():
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in result:
            raise ValueError(f"PERIODIC_JOBS : tâche périodique inconnue « {name} » "
                             f"(connues : {', '.join(result)})")
        try:
            result[name] = int(value)
        except ValueError as error:
            raise ValueError(f"PERIODIC_JOBS : période invalide pour {name} : « {value} » "
                             "(un nombre de secondes)") from error
    return {name: every for name, every in result.items() if every > 0}


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_key(name: str, slot: int) -> str:
    return f"{PREFIX}:{name}:{slot}"


def lock_key(name: str) -> str:
    return f"{PREFIX}:{name}:verrou"


def history_key(name: str) -> str:
    return f"{PREFIX}:{name}:historique"


def history(connection: Any, name: str) -> list[dict[str, Any]]:
    """The latest runs of a periodic job, newest first."""
    return [json.loads(raw) for raw in connection.lrange(history_key(name), 0, -1)]


class Planificateur:
    """Enqueues each periodic job once per slot across every worker (see the module)."""

    def __init__(self, connection: Any, periods: dict[str, int]) -> None:
        self.connection = connection
        self.periods = periods
        self.last_slot: dict[str, int] = {}
        self.owner = owner()

    def tick(self, now: float | None = None) -> list[tuple[str, int]]:
        """Claim and enqueue what is due at `now`; return what this planner enqueued."""
        from rq import Queue

        now = time.time() if now is None else now
        enqueued = []
        for name, every in self.periods.items():
            slot = int(now // every)
            if self.last_slot.get(name) == slot:
                continue
            # the claim outlives the slot: a host whose clock lags a little cannot claim
            # it again once it has expired
            if self.connection.set(slot_key(name, slot), self.owner, nx=True,
                                   ex=max(2 * every, 60)):
                Queue(QUEUE, connection=self.connection).enqueue(
                    f"jobs.{QUEUE}.executer", name, slot, job_id=f"periodique-{name}-{slot}",
                    job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=7 * 86400)
                enqueued.append((name, slot))
            self.last_slot[name] = slot  # claimed here or elsewhere: done for this slot
        return enqueued

    def run(self, stop: threading.Event, tick_seconds: float = 1.0) -> None:
        """The planner thread's loop: a Redis outage is logged and waited out."""
        from redis.exceptions import RedisError

        while not stop.is_set():
            try:
                for name, slot in self.tick():
                    log.info("periodic job %s queued (slot %s)", name, slot)
            except RedisError as error:
                log.warning("periodic jobs: Redis unavailable (%s)", error)
            stop.wait(tick_seconds)


def start(connection: Any, periods_: dict[str, int] | None = None) -> threading.Event:
    """Start the planner thread of this worker; set the returned event to stop it."""
    stop = threading.Event()
    planner = Planificateur(connection, periods() if periods_ is None else periods_)
    thread = threading.Thread(target=planner.run, args=(stop,), name="periodiques",
                              daemon=True)
    thread.start()
    log.info("periodic jobs scheduled: %s",
             ", ".join(f"{n} every {s}s" for n, s in planner.periods.items()) or "none")
    return stop


# Released or renewed only by the holder of the token (a run that lost its lock must not
# free or extend the next run's).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


def _keep_alive(connection: Any, name: str, token: str, done: threading.Event) -> None:
    """Renew the run lock every LOCK_TTL / 3 seconds until the run is done."""
    from redis.exceptions import RedisError

    while not done.wait(LOCK_TTL / 3):
        try:
            if not connection.eval(_RENEW, 1, lock_key(name), token, int(LOCK_TTL * 1000)):
                log.warning("periodic job %s: its run lock was lost", name)
                return
        except RedisError as error:  # Redis away for a moment: the next renewal may do
            log.warning("periodic job %s: run lock not renewed (%s)", name, error)


@job(retries=0)
def executer(name: str, slot: int | None = None) -> Any:
    """Run periodic job `name` for its slot, unless a run of it is still going on."""
    from backoffice.tasks import redis_connection, resolve

    periodique = BY_NAME[name]
    connection = redis_connection()
    token = uuid.uuid4().hex
    if not connection.set(lock_key(name), token, nx=True, px=int(LOCK_TTL * 1000)):
        log.warning("periodic job %s (slot %s) skipped: its previous run is still going on",
                    name, slot)
        return {"ignore": "exécution précédente en cours"}
    done = threading.Event()
    threading.Thread(target=_keep_alive, args=(connection, name, token, done),
                     name=f"verrou-{name}", daemon=True).start()
    started = time.time()
    record: dict[str, Any] = {"slot": slot, "par": owner(), "debut": started}
    try:
        result = resolve(periodique.job)()
        record["resultat"] = result
        return result
    except Exception as error:
        record["erreur"] = f"{type(error).__name__}: {error}"[:500]
        raise
    finally:
        done.set()
        record["fin"] = time.time()
        with connection.pipeline() as pipe:
            pipe.lpush(history_key(name), json.dumps(record, default=str))
            pipe.ltrim(history_key(name), 0, HISTORY - 1)
            pipe.execute()
        connection.eval(_RELEASE, 1, lock_key(name), token)
