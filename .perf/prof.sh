#!/bin/bash
# usage: prof.sh scenario out
cd /work/h-exec
.venv/bin/python -m bench --scenarios $1 --execution compiled --no-floor --peer off --concurrency 16 --seconds 30 --warmup 3 > .perf/bench-$2.log 2>&1 &
B=$!
for i in $(seq 1 60); do
  P=$(pgrep -f "h-exec/.venv/bin/python -m gateway serve" | head -1)
  [ -n "$P" ] && break; sleep 1; done
echo "gateway pid $P"
sleep 12
.venv/bin/py-spy record -p $P -d 20 -r 100 -f raw -o .perf/$2.txt > /dev/null 2>&1
wait $B
