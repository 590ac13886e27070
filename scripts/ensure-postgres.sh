#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth and a database `test`,
# installing and starting Debian's server only when none answers (the test command calls this).
set -euo pipefail
HOST=127.0.0.1 PORT=5432
answers() { command -v pg_isready >/dev/null && pg_isready -q -h "$HOST" -p "$PORT"; }
if answers; then exit 0; fi
echo "no PostgreSQL on $HOST:$PORT: installing and starting one" >&2
if ! command -v pg_ctlcluster >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then pg_createcluster "$version" main >/dev/null; fi
conf=/etc/postgresql/$version/main
sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
cat > "$conf/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
pg_ctlcluster "$version" main restart || pg_ctlcluster "$version" main start
for _ in $(seq 30); do answers && break; sleep 1; done
answers || { echo "PostgreSQL did not start" >&2; exit 1; }
psql -h "$HOST" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h "$HOST" -U postgres -c "CREATE DATABASE test" >/dev/null
