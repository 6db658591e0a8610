#!/usr/bin/env bash
# bench/batch_stmt.sh: what one group commit costs PostgreSQL, by batch size.
#
# On a fresh private PostgreSQL (propertyd started once to apply its migrations, then left
# idle), pgbench runs exactly CreateProperty's group-commit statement (`print_sql
# prop_create_batch`, `-M prepared`, one connection) with ROWS creates per statement (array
# parameters written as literals, no idempotency keys), each for DURATION s, once with
# synchronous_commit on (the service's setting) and once off. Prints the mean statement
# latency, then the fit over the batch sizes: the cost per row, the fixed cost per
# statement, and the WAL flush (on minus off). One batch in flight per event loop
# (DB_BATCHES_IN_FLIGHT=1), so at 16 callers, about 8 creates per batch, this latency
# bounds the create rate of one loop.
#
# Environment: ROWS ("1 8 32"), DURATION (4), BUILD, OUT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init
ROWS=${ROWS:-1 8 32}
DURATION=${DURATION:-4}
PGBENCH="$(pd__pg_bindir)/pgbench"
[ -x "$PGBENCH" ] || {
	pd_err "pgbench not found next to PostgreSQL's binaries"
	exit 1
}
[ -x "$BUILD/bin/print_sql" ] || cmake --build "$BUILD" --target print_sql >/dev/null

bench_stack
bench_start_propertyd
bench_stop_pid "$PROPERTYD_PID"
PG_PORT=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$DATABASE_URL")

# One statement with N rows: $k::type[] replaced by an array literal of N elements.
script() {
	"$BUILD/bin/print_sql" prop_create_batch | N=$1 perl -pe '
		my $n = $ENV{N};
		my @v = (undef, "owner", "A title", "a description", "an address", "Paris", "FR",
			"48.85", "2.35", "100000", "EUR", "3", "1", "NULL", "NULL");
		sub arr { my ($k) = @_; my @e;
			for my $i (1 .. $n) {
				my $x = $v[$k];
				$x = "$x-$i" if $k == 1;
				push @e, ($x eq "NULL" || $x =~ /^[0-9.]+$/) ? $x : "\"$x\"";
			}
			return "\x27{" . join(",", @e) . "}\x27";
		}
		s/\$([0-9]+)::/arr($1) . "::"/ge;
		s/$/;/;'
}

printf '%6s %6s %14s %12s\n' rows sync "ms/statement" "us/row"
declare -A MS
for n in $ROWS; do
	script "$n" >"$OUT/batch-$n.sql"
	for sc in on off; do
		out=$(PGOPTIONS="-c synchronous_commit=$sc" "$PGBENCH" -h 127.0.0.1 -p "$PG_PORT" \
			-U postgres -n -M prepared -c 1 -T "$DURATION" -f "$OUT/batch-$n.sql" propertyd 2>&1) || {
			pd_err "pgbench failed: $out"
			exit 1
		}
		ms=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
		MS[$n,$sc]=$ms
		printf '%6s %6s %14.3f %12.1f\n' "$n" "$sc" "$ms" "$(awk -v m="$ms" -v n="$n" 'BEGIN{print m*1000/n}')"
	done
done
set -- $ROWS
lo=$1
hi=${!#}
if [ "$lo" != "$hi" ]; then
	awk -v lo="$lo" -v hi="$hi" -v a="${MS[$lo,off]}" -v b="${MS[$hi,off]}" \
		-v fa="${MS[$lo,on]}" -v fb="${MS[$hi,on]}" 'BEGIN {
		row = (b - a) / (hi - lo) * 1000; fixed = a * 1000 - lo * row
		printf "fit (synchronous_commit off, %d..%d rows): %.0f us per row + %.0f us per statement\n", lo, hi, row, fixed
		printf "WAL flush (on - off): %.0f us at %d rows, %.0f us at %d rows\n", (fa - a) * 1000, lo, (fb - b) * 1000, hi
	}'
fi
