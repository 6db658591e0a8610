"""Workload, subscriber and checker of bench/soak.sh (run by it; not on its own).

Runs writer, reader and subscriber threads against the soak's propertyd instances until
the file $SOAK_DIR/stop appears, waits (bounded) for the system to settle, then checks:

  (a) durable:   every acknowledged write is in PostgreSQL with its value (its version's
                 event holds the acknowledged fields; the final row is at least as new, and
                 equal to it when no later write may have committed; an acknowledged delete
                 leaves no row); the properties table equals each aggregate's last event.
  (b) events:    seqs are gap-free from the first kept to relay_state.last_seq and every
                 event has one; per aggregate: created v1, updated v2, v3, ... each exactly
                 once, at most one deleted (last); no event without a write we attempted;
                 at most one property per idempotency key.
  (c) delivery:  the subscriber received every seq exactly once, in order, equal to the log.
  (d) reads:     no read returned a state older than a write acknowledged before the read
                 started, except for at most the stated bound (docs/contract.md §5.9: the
                 event relay's lag plus about 50 ms): a stale read is allowed only while the
                 acknowledged write's event had not yet reached the subscriber, plus
                 SOAK_STALE_SLACK_MS (default 250). After settling, every instance must
                 answer every id with its final state.

Environment: SOAK_DIR, RPC_URLS and EVENTS_URLS (comma-separated, one per instance, same
order), AUTH_SECRET, DATABASE_URL, PSQL, SOAK_SEED, SOAK_WRITERS (3), SOAK_READERS (2),
SOAK_STALE_SLACK_MS (250), SOAK_SETTLE_S (90). Exit status 0 when every check passed, 1 on
any violation, 2 on a setup error.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict

import propertyd
from propertyd import property_pb2

SOAK_DIR = os.environ["SOAK_DIR"]
RPC_URLS = [u for u in os.environ["RPC_URLS"].split(",") if u]
EVENTS_URLS = [u for u in os.environ["EVENTS_URLS"].split(",") if u]
SECRET = os.environ["AUTH_SECRET"]
DATABASE_URL = os.environ["DATABASE_URL"]
PSQL = os.environ.get("PSQL", "psql")
SEED = int(os.environ.get("SOAK_SEED", "1"))
N_WRITERS = int(os.environ.get("SOAK_WRITERS", "3"))
N_READERS = int(os.environ.get("SOAK_READERS", "2"))
SLACK = int(os.environ.get("SOAK_STALE_SLACK_MS", "250")) / 1000.0
SETTLE_S = float(os.environ.get("SOAK_SETTLE_S", "90"))
CALL_TIMEOUT = 2.0
UNKNOWN = {4, 13, 14}  # a write answered so may or may not have committed (§5.11)
T0 = float(os.environ.get("SOAK_T0") or time.time())  # the fault log's zero, so times line up

FIELDS = ("owner_id", "title", "description", "address", "city", "country_code", "latitude",
          "longitude", "price_cents", "currency", "bedrooms", "status", "version")
CITIES = [("Paris", "FR", 48.86, 2.34), ("Lyon", "FR", 45.76, 4.84), ("Berlin", "DE", 52.52, 13.4),
          ("Madrid", "ES", 40.42, -3.7), ("Oslo", "NO", 59.91, 10.75)]


def log(msg: str) -> None:
    print(f"soak.py +{time.time() - T0:7.1f}s {msg}", file=sys.stderr, flush=True)


def fields_of(p: property_pb2.Property) -> tuple:
    loc = p.location
    return (p.owner_id, p.title, p.description, loc.address, loc.city, loc.country_code,
            float(loc.latitude), float(loc.longitude), int(p.price_cents), p.currency,
            int(p.bedrooms), int(p.status), int(p.version))


def fields_of_row(r: list[str]) -> tuple:
    """Row in FIELDS order from psql CSV."""
    return (r[0], r[1], r[2], r[3], r[4], r[5], float(r[6]), float(r[7]), int(r[8]), r[9],
            int(r[10]), int(r[11]), int(r[12]))


def psql_csv(sql: str) -> list[list[str]]:
    out = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DATABASE_URL, "-c",
                          f"COPY ({sql}) TO STDOUT WITH CSV"], check=True, capture_output=True,
                         timeout=60).stdout.decode()
    return list(csv.reader(io.StringIO(out)))


class Record:
    """Everything observed, shared by the threads (appends are atomic under the GIL)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # acknowledged writes: (id, kind, version, fields, t_start, t_done, key, instance)
        self.acks: list[tuple] = []
        self.acks_by_id: dict[str, list[tuple]] = defaultdict(list)
        # writes with an unknown outcome: (id or None, kind, expected_version, key, t)
        self.maybe: list[tuple] = []
        self.attempted_keys: set[str] = set()
        self.acked_key_id: dict[str, str] = {}
        # reads: (id, t_start, t_end, version or None for NOT_FOUND, instance, source)
        self.reads: list[tuple] = []
        self.read_errors: dict[int, int] = defaultdict(int)
        self.write_errors: dict[str, int] = defaultdict(int)
        self.reply_mismatch: list[str] = []
        self.ids: list[str] = []  # every id ever acknowledged (readers pick from it)
        self.create_retries = 0

    def ack(self, pid: str, kind: str, version: int, fields: tuple | None, t0: float, inst: int, key: str = "") -> None:
        a = (pid, kind, version, fields, t0, time.time(), key, inst)
        with self.lock:
            self.acks.append(a)
            self.acks_by_id[pid].append(a)
            if kind == "create":
                self.ids.append(pid)
                self.acked_key_id[key] = pid


REC = Record()
STOP = threading.Event()


def channels(token: str) -> list:
    return [propertyd.connect(u, token=token, timeout=CALL_TIMEOUT) for u in RPC_URLS]


def do_read(stubs: list, rng: random.Random, pid: str) -> None:
    i = rng.randrange(len(stubs))
    t0 = time.time()
    try:
        p = stubs[i].GetProperty(property_pb2.GetPropertyRequest(id=pid))
        REC.reads.append((pid, t0, time.time(), int(p.version), i, "get"))
    except propertyd.RpcError as e:
        if e.code == 5 and not e.local:
            REC.reads.append((pid, t0, time.time(), None, i, "get"))
        else:
            REC.read_errors[e.code] += 1


def do_list(stubs: list, rng: random.Random, owner: str) -> None:
    i = rng.randrange(len(stubs))
    t0 = time.time()
    try:
        r = stubs[i].ListPropertiesByOwner(property_pb2.ListPropertiesByOwnerRequest(owner_id=owner, page_size=20))
        t1 = time.time()
        for p in r.properties:
            REC.reads.append((p.id.lower(), t0, t1, int(p.version), i, "list"))
    except propertyd.RpcError as e:
        REC.read_errors[e.code] += 1


class Writer(threading.Thread):
    def __init__(self, n: int) -> None:
        super().__init__(name=f"writer-{n}", daemon=True)
        self.owner = f"soak-w{n}"
        self.rng = random.Random(SEED * 1000 + n)
        self.stubs = [propertyd.PropertyServiceStub(c) for c in channels(propertyd.mint_token(SECRET, sub=self.owner, ttl=7200))]
        self.live: dict[str, int] = {}  # id -> version we believe current
        self.seq = 0

    def pick(self):
        self.inst = self.rng.randrange(len(self.stubs))
        return self.stubs[self.inst]

    def run(self) -> None:
        while not STOP.is_set():
            r = self.rng.random()
            try:
                if r < 0.25 or len(self.live) < 5:
                    self.create()
                elif r < 0.60:
                    self.update()
                elif r < 0.68:
                    self.delete()
                elif r < 0.90:
                    do_read(self.stubs, self.rng, self.rng.choice(list(self.live)))
                else:
                    do_list(self.stubs, self.rng, f"soak-w{self.rng.randrange(N_WRITERS)}")
            except Exception as e:  # noqa: BLE001 -- a bug of this script: report, go on
                log(f"{self.name}: {type(e).__name__}: {e}")
                REC.write_errors["script:" + type(e).__name__] += 1
            time.sleep(self.rng.uniform(0.005, 0.03))

    def readback(self, pid: str) -> None:
        if self.rng.random() < 0.5:
            do_read(self.stubs, self.rng, pid)

    def create(self) -> None:
        self.seq += 1
        key = f"{self.owner}-{self.seq}"
        city, cc, lat, lon = self.rng.choice(CITIES)
        req = property_pb2.CreatePropertyRequest(
            title=f"soak {key}", description=f"d{self.rng.randrange(10**6)}",
            location=property_pb2.Location(address=f"{self.rng.randrange(1, 200)} Soak St", city=city,
                                           country_code=cc, latitude=lat + self.rng.uniform(-0.1, 0.1),
                                           longitude=lon + self.rng.uniform(-0.1, 0.1)),
            price_cents=self.rng.randrange(10**5, 10**9), currency="EUR", bedrooms=self.rng.randrange(0, 8),
            status=self.rng.randrange(0, 6))
        REC.attempted_keys.add(key)
        for attempt in range(8):
            t0 = time.time()
            try:
                p = self.pick().CreateProperty(req, idempotency_key=key)
            except propertyd.RpcError as e:
                REC.write_errors[f"create:{e.code_name}"] += 1
                if e.code in UNKNOWN or e.code == 8:
                    REC.create_retries += 1
                    time.sleep(min(0.1 * 2**attempt, 1.0))
                    continue
                return
            pid = p.id.lower()
            f = fields_of(p)
            if p.version != 1 or p.title != req.title or p.price_cents != req.price_cents:
                REC.reply_mismatch.append(f"create {key}: reply {f}")
            REC.ack(pid, "create", 1, f, t0, self.inst, key)
            self.live[pid] = 1
            self.readback(pid)
            return
        REC.maybe.append((None, "create", 0, key, time.time()))

    def update(self) -> None:
        pid = self.rng.choice(list(self.live))
        ver = self.live[pid]
        mask = self.rng.sample(["title", "description", "price_cents", "bedrooms", "status", "location"],
                               self.rng.randrange(1, 4))
        city, cc, lat, lon = self.rng.choice(CITIES)
        prop = property_pb2.Property(
            title=f"soak upd {self.rng.randrange(10**6)}", description=f"u{self.rng.randrange(10**6)}",
            price_cents=self.rng.randrange(10**5, 10**9), bedrooms=self.rng.randrange(0, 8),
            status=self.rng.randrange(1, 6),
            location=property_pb2.Location(city=city, country_code=cc, latitude=lat, longitude=lon))
        req = property_pb2.UpdatePropertyRequest(id=pid, expected_version=ver, property=prop, update_mask=mask)
        t0 = time.time()
        try:
            p = self.pick().UpdateProperty(req)
        except propertyd.RpcError as e:
            self.failed("update", pid, ver, e)
            return
        f = fields_of(p)
        bad = p.version != ver + 1 or p.id.lower() != pid
        for m in mask:
            if m == "location":
                bad |= p.location.city != city
            else:
                bad |= getattr(p, m) != getattr(prop, m)
        if bad:
            REC.reply_mismatch.append(f"update {pid} v{ver} mask {mask}: reply {f}")
        REC.ack(pid, "update", int(p.version), f, t0, self.inst)
        self.live[pid] = int(p.version)
        self.readback(pid)

    def delete(self) -> None:
        pid = self.rng.choice(list(self.live))
        ver = self.live[pid]
        t0 = time.time()
        try:
            self.pick().DeleteProperty(property_pb2.DeletePropertyRequest(id=pid, expected_version=ver))
        except propertyd.RpcError as e:
            self.failed("delete", pid, ver, e)
            return
        REC.ack(pid, "delete", ver, None, t0, self.inst)
        del self.live[pid]
        self.readback(pid)

    def failed(self, kind: str, pid: str, ver: int, e: propertyd.RpcError) -> None:
        REC.write_errors[f"{kind}:{e.code_name}"] += 1
        if e.code in UNKNOWN:
            REC.maybe.append((pid, kind, ver, "", time.time()))
        elif e.code == 10 and not e.local:
            m = re.search(r"current is (\d+)", e.message)
            if m:  # an earlier write of unknown outcome did commit
                self.live[pid] = int(m.group(1))
        elif e.code == 5 and not e.local:
            self.live.pop(pid, None)  # an earlier delete of unknown outcome did commit


class Reader(threading.Thread):
    def __init__(self, n: int) -> None:
        super().__init__(name=f"reader-{n}", daemon=True)
        self.rng = random.Random(SEED * 1000 + 500 + n)
        self.stubs = [propertyd.PropertyServiceStub(c) for c in channels(propertyd.mint_token(SECRET, sub=f"soak-r{n}", ttl=7200))]

    def run(self) -> None:
        while not STOP.is_set():
            ids = REC.ids
            if not ids:
                time.sleep(0.05)
                continue
            # Mostly recent ids (recently written), sometimes any.
            pid = ids[-1 - min(int(self.rng.expovariate(1 / 30)), len(ids) - 1)] if self.rng.random() < 0.8 else self.rng.choice(ids)
            do_read(self.stubs, self.rng, pid)
            time.sleep(self.rng.uniform(0.002, 0.01))


class Subscriber(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="subscriber", daemon=True)
        self.ch = propertyd.connect(RPC_URLS, token=propertyd.mint_token(SECRET, sub="soak-sub", ttl=7200), timeout=5.0)
        self.sub = propertyd.subscribe(EVENTS_URLS, channel=self.ch, after_seq=0, type_prefix="property.")
        self.events: list[tuple] = []  # (seq, event id, type, aggregate, version, t_recv)
        self.error = ""

    def run(self) -> None:
        try:
            for ev in self.sub:
                self.events.append((ev.seq, ev.id.lower(), ev.type, ev.aggregate_id.lower(), int(ev.property.version), time.time()))
        except Exception as e:  # noqa: BLE001 -- recorded as a delivery violation
            self.error = f"{type(e).__name__}: {e}"
            log(f"subscriber stopped: {self.error}")


def fault_windows() -> list[tuple[float, float, str]]:
    out = []
    try:
        with open(os.path.join(SOAK_DIR, "faults.tsv")) as f:
            for line in f:
                a = line.split("\t")
                out.append((float(a[0]), float(a[1]), a[2].strip()))
    except OSError:
        pass
    return out


def main() -> int:
    log(f"seed {SEED}, {N_WRITERS} writers, {N_READERS} readers, {len(RPC_URLS)} instances")
    sub = Subscriber()
    sub.start()
    writers = [Writer(n) for n in range(N_WRITERS)]
    readers = [Reader(n) for n in range(N_READERS)]
    for t in writers + readers:
        t.start()
    open(os.path.join(SOAK_DIR, "ready"), "w").close()
    stop_file = os.path.join(SOAK_DIR, "stop")
    while not os.path.exists(stop_file):
        time.sleep(0.2)
    t_stop = time.time()
    STOP.set()
    for t in writers + readers:
        t.join(30)
    log(f"workload stopped: {len(REC.acks)} writes acknowledged, {len(REC.reads)} reads")

    # Settle: every event numbered and received (bounded).
    end = time.time() + SETTLE_S
    last_seq = unnumbered = -1
    while time.time() < end:
        try:
            r = psql_csv("SELECT (SELECT last_seq FROM relay_state), (SELECT count(*) FROM event_log e "
                         "WHERE NOT EXISTS (SELECT 1 FROM event_seq s WHERE s.ins_id = e.ins_id))")
            last_seq, unnumbered = int(r[0][0]), int(r[0][1])
        except (subprocess.SubprocessError, OSError) as e:
            log(f"settle query failed: {e}")
        got = sub.events[-1][0] if sub.events else 0
        if unnumbered == 0 and got >= last_seq:
            break
        time.sleep(0.5)
    settle_s = time.time() - t_stop
    log(f"settled after {settle_s:.1f}s: last_seq {last_seq}, unnumbered {unnumbered}, subscriber at "
        f"{sub.events[-1][0] if sub.events else 0}")
    time.sleep(1.0)  # past the cache followers' 50 ms poll, with room

    # Final reads: every instance answers every id with PostgreSQL's final state.
    fin_stubs = [propertyd.PropertyServiceStub(c) for c in channels(propertyd.mint_token(SECRET, sub="soak-final", ttl=7200))]
    final_reads: list[tuple] = []  # (id, instance, version or None, fields or None, error code)
    all_ids = sorted(REC.acks_by_id)
    for pid in all_ids:
        for i, st in enumerate(fin_stubs):
            try:
                p = st.GetProperty(property_pb2.GetPropertyRequest(id=pid), timeout=5.0)
                final_reads.append((pid, i, int(p.version), fields_of(p), 0))
            except propertyd.RpcError as e:
                final_reads.append((pid, i, None, None, 0 if (e.code == 5 and not e.local) else e.code))
    sub.sub.close()
    sub.join(5)

    if os.environ.get("SOAK_SELFTEST") == "1":
        return selftest(sub, final_reads, last_seq, unnumbered, settle_s)
    return check(sub, final_reads, last_seq, unnumbered, settle_s)


def selftest(sub: Subscriber, final_reads: list, last_seq: int, unnumbered: int, settle_s: float) -> int:
    """Plants one fault per check after the run, then expects each check to report it."""
    log("SELFTEST: planting a changed row, a lost seq, a duplicated delivery and a stale read")
    psql_csv("SELECT 1")  # connectivity
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DATABASE_URL, "-c",
                    "UPDATE properties SET price_cents = price_cents + 1 WHERE id = (SELECT id FROM properties "
                    "ORDER BY id LIMIT 1); DELETE FROM event_seq WHERE seq = (SELECT max(seq) / 2 FROM event_seq)"],
                   check=True, capture_output=True, timeout=60)
    sub.events.insert(len(sub.events) // 3, sub.events[len(sub.events) // 3])
    upd = next(a for a in REC.acks if a[1] == "update")
    REC.reads.append((upd[0], upd[5] + 30, upd[5] + 30.01, upd[2] - 1, 0, "planted"))
    check(sub, final_reads, last_seq, unnumbered, settle_s)
    counts = {}
    with open(os.path.join(SOAK_DIR, "violations.log")) as fh:
        for line in fh:
            k = line.split(":", 1)[0]
            counts[k] = counts.get(k, 0) + 1
    ok = all(counts.get(k, 0) > 0 for k in ("a_durable", "b_events", "c_delivery", "d_reads"))
    print(f"SELFTEST: {'every check found its planted fault' if ok else 'a check MISSED its planted fault'}: {counts}")
    return 0 if ok else 1


def check(sub: Subscriber, final_reads: list, last_seq: int, unnumbered: int, settle_s: float) -> int:
    viol: dict[str, list[str]] = {"a_durable": [], "b_events": [], "c_delivery": [], "d_reads": []}
    ev_rows = psql_csv(
        "SELECT s.seq, e.id, e.type, e.aggregate_id, e.occurred_at_us, " + ", ".join("e." + f for f in FIELDS) +
        " FROM event_log e LEFT JOIN event_seq s USING (ins_id) ORDER BY s.seq NULLS LAST, e.ins_id")
    pg_rows = psql_csv("SELECT id, " + ", ".join(FIELDS) + " FROM properties")
    pg = {r[0].lower(): fields_of_row(r[1:]) for r in pg_rows}
    events = []  # (seq or None, event id, type, aggregate, occurred_us, fields)
    for r in ev_rows:
        events.append((int(r[0]) if r[0] else None, r[1].lower(), r[2], r[3].lower(), int(r[4]), fields_of_row(r[5:])))
    by_agg: dict[str, list[tuple]] = defaultdict(list)
    for e in events:
        by_agg[e[3]].append(e)
    ev_at: dict[tuple, list[tuple]] = defaultdict(list)  # (aggregate, kind, version) -> events
    for e in events:
        ev_at[(e[3], e[2].split(".")[1], e[5][12])].append(e)

    # (b) seqs gap-free, every event numbered, shape per aggregate, no phantom events.
    b = viol["b_events"]
    seqs = [e[0] for e in events if e[0] is not None]
    if unnumbered != 0 or len(seqs) != len(events):
        b.append(f"{len(events) - len(seqs)} events without a seq after settling")
    if seqs:
        first = seqs[0]
        if seqs != list(range(first, first + len(seqs))):
            missing = sorted(set(range(first, seqs[-1] + 1)) - set(seqs))
            b.append(f"seqs not gap-free from {first}: {len(missing)} missing, first {missing[:10]}")
        if seqs[-1] != last_seq:
            b.append(f"highest seq {seqs[-1]} != relay_state.last_seq {last_seq}")
        if first != 1:
            b.append(f"first kept seq is {first}, not 1 (nothing should be pruned in a soak)")
    for agg, evs in by_agg.items():
        evs = sorted(evs, key=lambda e: (e[0] is None, e[0] or 0))
        kinds = [e[2] for e in evs]
        vers = [e[5][12] for e in evs]
        want_k = ["property.created"] + ["property.updated"] * (len(evs) - 1)
        want_v = list(range(1, len(evs) + 1))
        if kinds and kinds[-1] == "property.deleted":
            want_k[-1] = "property.deleted"
            want_v[-1] = len(evs) - 1
        if kinds != want_k or vers != want_v:
            b.append(f"aggregate {agg}: events {list(zip(kinds, vers))}")
    # every event comes from a write we attempted (acknowledged or of unknown outcome)
    maybe_upd = {(m[0], m[2]) for m in REC.maybe if m[1] == "update"}
    maybe_del = {(m[0], m[2]) for m in REC.maybe if m[1] == "delete"}
    acked = {(a[0], a[1], a[2]) for a in REC.acks}
    per_key: dict[str, set[str]] = defaultdict(set)
    for e in events:
        agg, kind, v = e[3], e[2].split(".")[1], e[5][12]
        if kind == "created":
            key = e[5][1][len("soak "):]
            per_key[key].add(agg)
            if key not in REC.attempted_keys:
                b.append(f"created event {e[0]} for {agg} with title {e[5][1]!r}: no such create attempted")
        elif kind == "updated" and (agg, "update", v) not in acked and (agg, v - 1) not in maybe_upd:
            b.append(f"updated event seq {e[0]} {agg} v{v}: no update attempted with expected version {v - 1}")
        elif kind == "deleted" and (agg, "delete", v) not in acked and (agg, v) not in maybe_del:
            b.append(f"deleted event seq {e[0]} {agg} v{v}: no delete attempted at version {v}")
    dup_keys = {k: ids for k, ids in per_key.items() if len(ids) > 1}
    for k, ids in sorted(dup_keys.items()):
        b.append(f"idempotency key {k}: {len(ids)} properties created: {sorted(ids)}")
    for k, pid in REC.acked_key_id.items():
        if pid not in per_key.get(k, set()):
            b.append(f"idempotency key {k}: acknowledged id {pid} has no created event with that key")

    # (a) every acknowledged write is in PostgreSQL with its value.
    a_v = viol["a_durable"]
    for a in REC.acks:
        pid, kind, v, f = a[0], a[1], a[2], a[3]
        if kind in ("create", "update"):
            evs = ev_at.get((pid, "created" if kind == "create" else "updated", v), [])
            if not evs:
                a_v.append(f"acknowledged {kind} {pid} v{v}: no event for that version in the log")
            elif evs[0][5] != f:
                a_v.append(f"acknowledged {kind} {pid} v{v}: log holds {evs[0][5]}, acknowledged {f}")
        elif not ev_at.get((pid, "deleted", v)):
            a_v.append(f"acknowledged delete {pid} at v{v}: no deleted event")
    for pid, acks in REC.acks_by_id.items():
        last = max(acks, key=lambda x: (x[2], x[1] == "delete"))
        row = pg.get(pid)
        if last[1] == "delete":
            if row is not None:
                a_v.append(f"{pid}: deleted (acknowledged) but the row is there: {row}")
            continue
        if row is None:
            if not ev_at.get((pid, "deleted", last[2])) and not any(e[2] == "property.deleted" for e in by_agg[pid]):
                a_v.append(f"{pid}: acknowledged v{last[2]} but no row and no delete")
        elif row[12] < last[2]:
            a_v.append(f"{pid}: row at v{row[12]}, older than acknowledged v{last[2]}")
        elif row[12] == last[2] and row != last[3]:
            a_v.append(f"{pid}: row {row} != acknowledged {last[3]}")
    # the table equals each aggregate's last event
    for agg, evs in by_agg.items():
        lastev = max(evs, key=lambda e: (e[0] or 1 << 62))
        row = pg.get(agg)
        if lastev[2] == "property.deleted":
            if row is not None:
                a_v.append(f"{agg}: last event is a delete but the row exists")
        elif row != lastev[5]:
            a_v.append(f"{agg}: row {row} != last event {lastev[5]}")
    for pid in pg:
        if pid not in by_agg:
            a_v.append(f"{pid}: row without any event")

    # (c) the subscriber got every seq exactly once, in order, equal to the log.
    c = viol["c_delivery"]
    got = [e[0] for e in sub.events]
    if sub.error:
        c.append(f"subscription ended with {sub.error}")
    log_by_seq = {e[0]: e for e in events if e[0] is not None}
    dups = len(got) - len(set(got))
    if dups:
        c.append(f"{dups} events delivered more than once")
    if any(x >= y for x, y in zip(got, got[1:])):
        c.append("events delivered out of seq order")
    missing = sorted(set(log_by_seq) - set(got))
    if missing:
        c.append(f"{len(missing)} events of the log never delivered, first {missing[:10]}")
    for s, eid, typ, agg, ver, _ in sub.events:
        e = log_by_seq.get(s)
        if e is None:
            c.append(f"delivered seq {s} not in the log")
        elif (e[1], e[2], e[3], e[5][12]) != (eid, typ, agg, ver):
            c.append(f"seq {s}: delivered {(eid, typ, agg, ver)}, log {(e[1], e[2], e[3], e[5][12])}")

    # (d) reads never older than an acknowledged write, beyond the bound.
    d = viol["d_reads"]
    t_vis: dict[tuple, float] = {}  # (aggregate, kind, version) -> when the subscriber got it
    for s, eid, typ, agg, ver, t in sub.events:
        t_vis.setdefault((agg, typ.split(".")[1], ver), t)
    del_us = {e[3]: e[4] for e in events if e[2] == "property.deleted"}
    faults = fault_windows()
    stale_ok: list[str] = []
    acks_sorted = {pid: sorted(v, key=lambda x: x[5]) for pid, v in REC.acks_by_id.items()}
    for pid, t0, t1, ver, inst, src in REC.reads:
        acks = acks_sorted.get(pid)
        if not acks:
            continue
        before = [a for a in acks if a[5] < t0]
        if not before:
            continue
        last = max(before, key=lambda x: (x[2], x[1] == "delete"))
        if ver is None:  # NOT_FOUND
            if last[1] == "delete" or (pid in del_us and del_us[pid] / 1e6 <= t1):
                continue
            stale = True
        else:
            stale = (ver, 0) < (last[2], 1 if last[1] == "delete" else 0)
        if not stale:
            continue
        kind = {"create": "created", "update": "updated", "delete": "deleted"}[last[1]]
        tv = t_vis.get((pid, kind, last[2]))
        near = [f"{k}@{s - T0:.1f}-{e - T0:.1f}s" for s, e, k in faults if s - 5 <= t0 <= e + 5]
        desc = (f"{src} of {pid} on instance {inst} at +{t0 - T0:.3f}s returned "
                f"{'NOT_FOUND' if ver is None else 'v%d' % ver}; {last[1]} v{last[2]} (instance {last[7]}) acknowledged at "
                f"+{last[5] - T0:.3f}s; its event reached the subscriber at "
                f"{'never' if tv is None else '+%.3fs' % (tv - T0)}; faults near: {near or 'none'}")
        if tv is not None and t0 > tv + SLACK:
            d.append("stale beyond the bound: " + desc)
        else:
            stale_ok.append(desc)
    # after settling, every instance serves the final state
    for pid, inst, ver, f, code in final_reads:
        row = pg.get(pid)
        if code:
            d.append(f"final read of {pid} on instance {inst}: error {code}")
        elif (row is None) != (ver is None) or (row is not None and f != row):
            d.append(f"final read of {pid} on instance {inst}: {f if ver else 'NOT_FOUND'}, PostgreSQL {row}")

    with open(os.path.join(SOAK_DIR, "stale_within_bound.log"), "w") as fh:
        fh.write("\n".join(stale_ok) + ("\n" if stale_ok else ""))
    with open(os.path.join(SOAK_DIR, "violations.log"), "w") as fh:
        for k, vs in viol.items():
            for v in vs:
                fh.write(f"{k}: {v}\n")

    n_kind = defaultdict(int)
    for a in REC.acks:
        n_kind[a[1]] += 1
    print(f"writes acknowledged:   {len(REC.acks)} (create {n_kind['create']}, update {n_kind['update']}, "
          f"delete {n_kind['delete']}); outcome unknown: {len(REC.maybe)}; create retries: {REC.create_retries}")
    print("write errors:          " + (", ".join(f"{k} {v}" for k, v in sorted(REC.write_errors.items())) or "none"))
    print(f"reads:                 {len(REC.reads)} checked (+{len(final_reads)} final); errors: "
          + (", ".join(f"{propertyd.errors.code_name(k)} {v}" for k, v in sorted(REC.read_errors.items())) or "none"))
    print(f"stale reads in bound:  {len(stale_ok)} (bound: until the write's event reached the subscriber "
          f"+ {SLACK * 1000:.0f} ms; see stale_within_bound.log)")
    st = sub.sub.stats
    print(f"events:                {len(events)} in the log (last_seq {last_seq}); subscriber delivered "
          f"{len(sub.events)} (reread {st.reread}, duplicates dropped {st.duplicates}, read calls {st.read_calls}, "
          f"read errors {st.read_errors}); settled in {settle_s:.1f}s")
    total = 0
    for k, vs in viol.items():
        print(f"violations {k + ':':12s} {len(vs)}")
        for v in vs[:5]:
            print(f"    {v}")
        total += len(vs)
    return 1 if total else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyError, ValueError, subprocess.SubprocessError, OSError) as e:
        log(f"setup error: {type(e).__name__}: {e}")
        sys.exit(2)
