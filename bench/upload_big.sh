#!/usr/bin/env bash
# Uploads a big file (default 1 GiB) as a pièce through the real HTTP API served by
# gunicorn, and reports the server's peak memory growth and throughput beside `cp`.
# Usage: bench/upload_big.sh [size_in_MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
work=$(mktemp -d)
trap 'kill ${server_pid:-0} 2>/dev/null || true; rm -rf "$work"' EXIT
export INSTANCE_DIR=$work/instance DATABASE_URL= REDIS_URL= UPLOAD_LIMITS_MB="piece=$((size_mb + 16))"
.venv/bin/flask --app backoffice init-db >/dev/null
.venv/bin/flask --app backoffice seed-demo --candidatures 1 >/dev/null
token=$(.venv/bin/python -c "import json,sys; print(json.load(open('$work/instance/demo-credentials.json'))['api_token']['token'])")
port=$((20000 + RANDOM % 20000))
.venv/bin/gunicorn --bind 127.0.0.1:$port --workers 1 --timeout 600 'backoffice:create_app()' 2>"$work/gunicorn.log" &
server_pid=$!
sleep 3
worker_pid=$(pgrep -P $server_pid | head -1)
api=http://127.0.0.1:$port/api/v1
auth="Authorization: Bearer $token"
product=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"name":"Bench","version":"v1","type":"socle","responsable":"R"}' $api/products | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])')
reference=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d "{\"product_id\":$product,\"demarche\":\"dmn_nom_de_marque\"}" $api/candidatures | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["reference"])')
file=$work/big.pdf
{ printf '%%PDF-1.4\n'; head -c $((size_mb * 1024 * 1024 - 9)) /dev/zero; } > "$file"
rss() { awk '/VmRSS/ {print $2}' /proc/$worker_pid/status; }
hwm() { awk '/VmHWM/ {print $2}' /proc/$worker_pid/status; }
before=$(rss)
start=$(date +%s.%N)
curl -sf -H "$auth" -F type=documentation_fonctionnelle -F "file=@$file;filename=big.pdf" "$api/candidatures/$reference/pieces" > "$work/answer.json"
end=$(date +%s.%N)
peak=$(hwm)
cp_start=$(date +%s.%N); cp "$file" "$work/copy.pdf"; sync "$work/copy.pdf"; cp_end=$(date +%s.%N)
.venv/bin/python - "$size_mb" "$before" "$peak" "$start" "$end" "$cp_start" "$cp_end" "$work/answer.json" <<'PY'
import json, sys
size, before, peak, s, e, cs, ce, answer = sys.argv[1:]
size = int(size); up = float(e) - float(s); cp = float(ce) - float(cs)
stored = json.load(open(answer))["file"]["size"]
print(f"uploaded {size} MiB ({stored} bytes stored) in {up:.1f} s = {size/up:.0f} MiB/s; "
      f"cp: {cp:.1f} s = {size/cp:.0f} MiB/s ({100*cp/up:.0f}% of cp's throughput)")
print(f"gunicorn worker RSS before {int(before)//1024} MiB, peak {int(peak)//1024} MiB, "
      f"growth {(int(peak)-int(before))//1024} MiB")
PY
