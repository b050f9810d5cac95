#!/usr/bin/env python3
"""Generate a deterministic sample log set for the log-analysis tools (log_store, privacy).

Usage:
    samples/generate_logs.py --out DIR [--hours 48] [--seed 42] [--now 2026-01-15T12:00:00Z]

Writes the logs of five services into DIR, in the two formats `log_store` reads:

  JSON lines   {"timestamp": "<RFC 3339>", "service": "...", "level": "...", "message": "...", ...extra}
  plain text   <RFC 3339 timestamp> <LEVEL> <service> <message>

Every entry lies in (now - hours, now]. The same --seed and --now give byte-identical files;
--now defaults to the current time (UTC, whole seconds). Messages are realistic enough to be
worth searching and summarising, and carry the personal data the privacy tools look for:
email addresses, phone numbers, IPv4/IPv6 addresses, SSNs and card numbers, both Luhn-valid
and Luhn-invalid. Level spellings vary on purpose (WARN/WARNING, ERROR/ERR), one service
writes local time with a UTC offset, a few lines are malformed (they must be skipped and
counted) and a few are blank (ignored). Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

UTC = dt.timezone.utc

FIRST_NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Grace", "Hiro", "Ines", "Jonas"]
LAST_NAMES = ["Smith", "Okafor", "Nakamura", "Garcia", "Novak", "Haddad", "Lindqvist", "Moreau"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]
ENDPOINTS = ["/api/v1/users", "/api/v1/orders", "/api/v1/payments", "/api/v1/search", "/healthz"]


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    """A Luhn-valid card number of `length` digits starting with `prefix`."""
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these digits are doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


class Faker:
    """Random but plausible values, all drawn from one seeded generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def email(self) -> str:
        first, last = self.name().lower().split()
        return f"{first}.{last}{self.rng.randrange(100)}@{self.rng.choice(DOMAINS)}"

    def phone(self) -> str:
        area, mid, end = self.rng.randrange(201, 990), self.rng.randrange(200, 999), self.rng.randrange(10000)
        style = self.rng.randrange(4)
        if style == 0:
            return f"({area}) {mid}-{end:04d}"
        if style == 1:
            return f"{area}-{mid}-{end:04d}"
        if style == 2:
            return f"+1 {area}.{mid}.{end:04d}"
        return f"+44 20 {self.rng.randrange(7000, 8000)} {end:04d}"

    def ipv4(self) -> str:
        return f"{self.rng.choice([10, 172, 192, 203])}.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def ipv6(self) -> str:
        return f"2001:db8:{self.rng.randrange(0x10000):x}::{self.rng.randrange(1, 0x10000):x}"

    def ssn(self) -> str:
        return f"{self.rng.randrange(100, 666)}-{self.rng.randrange(10, 99)}-{self.rng.randrange(1000, 9999)}"

    def card(self) -> str:
        number = luhn_complete(self.rng.choice(["4", "51", "37"]), 16 if self.rng.random() < 0.8 else 15, self.rng)
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if self.rng.random() < 0.5 else number

    def bad_card(self) -> str:
        number = luhn_complete("4", 16, self.rng)
        broken = number[:-1] + str((int(number[-1]) + 1 + self.rng.randrange(9)) % 10)
        return "-".join(broken[i : i + 4] for i in range(0, 16, 4))

    def hex_id(self, n: int = 12) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def ms(self, lo: int = 3, hi: int = 900) -> int:
        return self.rng.randrange(lo, hi)


# Per service: (level, weight, message template as a function of Faker). Weights are relative.
def api_gateway(f: Faker):
    return [
        ("INFO", 60, lambda: f"GET {f.rng.choice(ENDPOINTS)}/{f.rng.randrange(1, 99999)} 200 {f.ms()}ms client={f.ipv4()}"),
        ("DEBUG", 10, lambda: f"route cache hit for {f.rng.choice(ENDPOINTS)} ({f.rng.randrange(1, 500)} entries)"),
        ("WARN", 12, lambda: f"Slow upstream response from payment-service: {f.ms(1000, 5000)}ms for request {f.hex_id()}"),
        ("WARN", 5, lambda: f"Rate limit exceeded for client {f.ipv4()} ({f.rng.randrange(100, 999)} req/min)"),
        ("ERROR", 6, lambda: f"POST /api/v1/payments 502 upstream timeout after {f.ms(5000, 30000)}ms request_id={f.hex_id()}"),
        ("ERROR", 3, lambda: f"Upstream connection reset by peer {f.ipv6()} port {f.rng.randrange(1024, 65535)}"),
    ]


def auth_service(f: Faker):
    return [
        ("INFO", 50, lambda: f"User {f.email()} logged in from {f.ipv4()}"),
        ("INFO", 10, lambda: f"MFA code sent to {f.phone()}"),
        ("DEBUG", 8, lambda: f"token refreshed for session {f.hex_id(16)}"),
        ("WARNING", 12, lambda: f"Failed login for {f.email()} from {f.ipv4()}: invalid password"),
        ("ERROR", 6, lambda: f"Account locked for user_id={f.rng.randrange(1000, 99999)} after {f.rng.randrange(5, 10)} failed attempts"),
        ("ERR", 3, lambda: f"LDAP bind failed: connection to {f.ipv4()}:636 timed out after {f.ms(1000, 9000)}ms"),
    ]


def payment_service(f: Faker):
    return [
        ("INFO", 45, lambda: f"Payment {f.hex_id()} of ${f.rng.randrange(1, 2000)}.{f.rng.randrange(100):02d} authorised for card {f.card()}"),
        ("INFO", 10, lambda: f"Refund issued to {f.name()} ({f.email()})"),
        ("DEBUG", 8, lambda: f"ledger batch {f.rng.randrange(1, 9999)} flushed in {f.ms()}ms"),
        ("WARN", 10, lambda: f"Payment declined: card {f.bad_card()} failed validation"),
        ("ERROR", 8, lambda: f"Charge failed for customer {f.email()}: gateway timeout after {f.ms(5000, 30000)}ms"),
        ("ERROR", 4, lambda: f"Card {f.card()} rejected by issuer: code {f.rng.choice([5, 14, 51, 54])}"),
        ("FATAL", 1, lambda: f"Settlement file {f.hex_id(8)}.csv could not be written: disk full"),
    ]


def user_service(f: Faker):
    return [
        ("INFO", 40, lambda: f"Profile updated for {f.name()} <{f.email()}>, phone {f.phone()}"),
        ("INFO", 10, lambda: f"Address lookup from {f.ipv6()} completed"),
        ("DEBUG", 10, lambda: f"cache warmed: {f.rng.randrange(100, 5000)} profiles"),
        ("WARNING", 10, lambda: f"SSN verification for customer {f.rng.randrange(1000, 99999)}: {f.ssn()} needs manual review"),
        ("ERROR", 7, lambda: f"KYC check failed for {f.name()}: SSN {f.ssn()} does not match records"),
        ("ERR", 3, lambda: f"Database query timeout after {f.ms(1000, 9000)}ms on shard {f.rng.randrange(1, 16)}"),
    ]


def notification_service(f: Faker):
    return [
        ("INFO", 50, lambda: f"Sent SMS to {f.phone()}"),
        ("INFO", 20, lambda: f"Email delivered to {f.email()}"),
        ("WARN", 10, lambda: f"Email delivery to {f.email()} deferred: mailbox full"),
        ("ERROR", 7, lambda: f"Webhook https://hooks.example.com/{f.hex_id(10)} returned 500 after {f.ms()}ms"),
        ("ERROR", 3, lambda: f"SMS provider rejected {f.phone()}: invalid number"),
    ]


# name, templates, file (relative to --out), format, UTC offset of the timestamps, mean gap (s)
SERVICES = [
    ("api-gateway", api_gateway, "api-gateway/access.jsonl", "json", 0, 75),
    ("auth-service", auth_service, "auth-service.jsonl", "json", 0, 120),
    ("payment-service", payment_service, "payment-service/payment.log", "text", 0, 110),
    ("user-service", user_service, "archive/2024/user-service.log", "text", 60, 150),
    ("notification-service", notification_service, "notification-service.log.jsonl", "json", 0, 180),
]

MALFORMED = [
    "this line is not a log entry",
    '{"timestamp": "2026-01-01T00:00:00Z", "service": "truncated',
    '{"timestamp": "not a time", "service": "x", "level": "INFO", "message": "bad time"}',
    '{"service": "auth-service", "level": "INFO", "message": "no timestamp"}',
    "yesterday ERROR payment-service something broke",
    "2026-13-45T99:00:00Z INFO user-service impossible date",
    "2026-01-01T00:00:00Z LOUD api-gateway unknown level",
]


def rfc3339(moment: dt.datetime, offset_minutes: int, millis: bool) -> str:
    local = moment.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{local.microsecond // 1000:03d}"
    return text + ("Z" if offset_minutes == 0 else local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])


def entries(rng: random.Random, templates, start: dt.datetime, end: dt.datetime, mean_gap: float, outage):
    """(time, level, message) in time order; more errors during the outage window."""
    choices = templates(Faker(rng))
    errors = [c for c in choices if c[0] in ("ERROR", "ERR", "FATAL")]
    t = start + dt.timedelta(seconds=rng.expovariate(1 / mean_gap))
    while t <= end:
        pool = errors if (outage[0] <= t <= outage[1] and rng.random() < 0.5) else choices
        level, _, message = rng.choices(pool, weights=[c[1] for c in pool])[0]
        yield t.replace(microsecond=(t.microsecond // 1000) * 1000), level, message()
        t += dt.timedelta(seconds=rng.expovariate(1 / mean_gap))


def render(service: str, fmt: str, offset: int, moment: dt.datetime, level: str, message: str, rng: random.Random) -> str:
    if fmt == "text":
        return f"{rfc3339(moment, offset, millis=offset != 0)} {level} {service} {message}"
    record = {"timestamp": rfc3339(moment, offset, millis=True), "service": service, "level": level, "message": message}
    if rng.random() < 0.5:
        record["host"] = f"{service}-{rng.randrange(1, 4)}"
        record["latency_ms"] = rng.randrange(1, 900)
    return json.dumps(record, ensure_ascii=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the logs into")
    parser.add_argument("--hours", type=float, default=48, help="how far back the logs go (default 48)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--now", help="end of the logs, RFC 3339 (default: the current time, UTC)")
    args = parser.parse_args()
    if args.hours <= 0:
        parser.error("--hours must be positive")
    if args.now:
        try:
            now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        except ValueError:
            parser.error(f"--now {args.now!r} is not an RFC 3339 timestamp (e.g. 2026-01-15T12:00:00Z)")
        if now.tzinfo is None:
            parser.error("--now needs a UTC offset or Z")
        now = now.astimezone(UTC)
    else:
        now = dt.datetime.now(UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=args.hours)
    rng = random.Random(args.seed)
    # A payment outage a few hours ago makes the error summary worth reading.
    outage_start = now - dt.timedelta(hours=min(args.hours / 2, 3 + rng.random()))
    outage = (outage_start, outage_start + dt.timedelta(minutes=25))

    total = 0
    for service, templates, relative, fmt, offset, mean_gap in SERVICES:
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        service_outage = outage if service in ("payment-service", "api-gateway") else (now, now)
        lines = []
        for moment, level, message in entries(rng, templates, start, now, mean_gap, service_outage):
            lines.append(render(service, fmt, offset, moment, level, message, rng))
            if rng.random() < 0.004:
                lines.append(rng.choice(MALFORMED))
            if rng.random() < 0.002:
                lines.append("")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        total += len(lines)
        print(f"generate_logs: {path} ({len(lines)} lines, {fmt})", file=sys.stderr)
    print(f"generate_logs: {total} lines, {rfc3339(start, 0, False)} .. {rfc3339(now, 0, False)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
