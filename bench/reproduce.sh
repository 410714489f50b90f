#!/usr/bin/env bash
# Reproduces docs/benchmarks.md (`make bench`): loads the bench databases, runs every
# benchmark, writes the JSON results to bench/results/ and the plot to docs/benchmarks/.
#
#   BENCH_POSTGRES  server to create bench_* databases on (postgresql://postgres@127.0.0.1:5432)
#   BENCH_SIZES     PostgreSQL sizes, in candidatures ("10000 100000 1000000")
#   BENCH_SQLITE    SQLite size ("100000"; empty: none)
#   BENCH_REUSE=1   keep the bench databases already loaded (loading 1M takes ~30 min)
#   BENCH_UPLOAD_MB size of the upload (1024)
#   BENCH_PLOT      where the plot goes (docs/benchmarks/queue-latency.png)
#   BENCH_REDIS     a Redis database the worker benchmark may empty (redis://127.0.0.1:6379/14)
# The databases are named bench_10k, bench_100k, bench_1m: the `test` database is never
# touched. Heavy steps run under `nice`: the machine may be shared. The load benchmark
# drives gunicorn with wrk (Debian package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
server=${BENCH_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
sizes=${BENCH_SIZES:-10000 100000 1000000}
sqlite_size=${BENCH_SQLITE-100000}
out=bench/results
mkdir -p "$out" instance/bench

label() {  # 100000 -> 100k
    local n=$1
    if (( n % 1000000 == 0 )); then echo "$((n / 1000000))m"
    elif (( n % 1000 == 0 )); then echo "$((n / 1000))k"
    else echo "$n"; fi
}

runs=()
largest=
for n in $sizes; do
    name=$(label "$n")
    url="$server/bench_$name"
    if [[ "${BENCH_REUSE:-}" != 1 ]] || ! $py -c "import sqlalchemy as s; s.create_engine('${url/postgresql:/postgresql+psycopg:}').connect()" 2>/dev/null; then
        nice -n 10 $py -m bench.generate --database-url "$url" --candidatures "$n" \
            --output "$out/generate-pg-$name.json" >/dev/null
    fi
    repeat=$(( n >= 1000000 ? 10 : 20 ))
    $py -m bench.run --database-url "$url" --repeat "$repeat" --output "$out/run-pg-$name.json"
    runs+=("$out/run-pg-$name.json")
    largest=$name
done

if [[ -n "$sqlite_size" ]]; then
    name=$(label "$sqlite_size")
    url="sqlite:///$PWD/instance/bench/bench-$name.sqlite3"
    if [[ "${BENCH_REUSE:-}" != 1 || ! -f "instance/bench/bench-$name.sqlite3" ]]; then
        nice -n 10 $py -m bench.generate --database-url "$url" --candidatures "$sqlite_size" \
            --output "$out/generate-sqlite-$name.json" >/dev/null
    fi
    $py -m bench.run --database-url "$url" --repeat 20 --output "$out/run-sqlite-$name.json"
    runs+=("$out/run-sqlite-$name.json")
fi

if [[ -n "$largest" ]]; then
    $py -m bench.explain --database-url "$server/bench_$largest" > "$out/plans-$largest.txt"
    # 50 vérificateurs pausing 350 ms on average between two pages (≥ 100 requests/s
    # together), then without any pause (the server's saturation throughput)
    $py -m bench.load --database-url "$server/bench_$largest" --think-ms 350 \
        --output "$out/load-$largest-think350.json"
    $py -m bench.load --database-url "$server/bench_$largest" --output "$out/load-$largest-saturation.json"
    # certificates through the production worker (and 10 through plain `rq worker`); the
    # Redis database given is emptied
    $py -m bench.worker --database-url "$server/bench_$largest" \
        --redis-url "${BENCH_REDIS:-redis://127.0.0.1:6379/14}" --certificates 200 --baseline 10 \
        --output "$out/worker-$largest.json"
fi
$py -m bench.upload --size-mb "${BENCH_UPLOAD_MB:-1024}" --output "$out/upload.json"
$py -m bench.plot "${runs[@]}" --output "${BENCH_PLOT:-docs/benchmarks/queue-latency.png}"
for run in "${runs[@]}"; do $py -m bench.summary "$run"; done
