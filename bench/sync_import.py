"""sync_import: a first import of N records from a provider, through the real
engine (run_sync) over loopback HTTP into the database.

Reports how many requests it took against the fewest possible (one per
largest page the provider allows, plus the provider's fixed set-up calls),
the time, the rate and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import math
import os
import time

from bench.harness import (
    JIRA_LARGEST_PAGE,
    JIRA_PROJECTS,
    UNREACHED_REQUESTS_PER_SECOND,
    bench_app,
    current_rss_mb,
    emit,
    make_jira_integration,
    make_paged_integration,
    peak_rss_mb,
    register_paged_fake,
    say,
    TRACKER_LARGEST_PAGE,
    make_tracker_integration,
    tracker_fake,
    tracker_requests,
)

SETUP_CALLS = 0  # the generic fake needs no discovery call before its listing
# Jira: GET myself (the account's time zone, for JQL dates) and one page of project/search.
JIRA_SETUP_CALLS = 2
# GitHub: the repositories (one page). GitLab: the projects (one page).
TRACKER_SETUP_CALLS = 1
BENCHMARKED_PROVIDERS = ("paged", "jira", "google_calendar", "outlook_calendar", "github", "gitlab")


class ProviderNotBenchmarkable(SystemExit):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=10_000, help="records the provider holds (default 10000)")
    parser.add_argument("--provider", default=None,
                        help="a provider slug (jira, jira_datacenter, asana, ...); without it the generic paged fake is used")
    parser.add_argument("--unlimited", action="store_true",
                        help="lift TimeHub's own request budget for the provider (its spec's rate_limit)")
    parser.add_argument("--in-turn", action="store_true",
                        help="fetch and write the pages in turn, in one thread (tuning.PULL_AHEAD off): "
                             "the baseline of fetching the next page while one is written")
    parser.add_argument("--profile", metavar="PATH", default=None,
                        help="--provider jira: cProfile the import alone (run_sync) into PATH")


def check_provider(slug: str) -> None:
    """Exit with what is missing: a real provider can only be benchmarked once its
    connector pulls and a fake of that provider can serve N seeded records."""
    from app.integrations import registry
    from app.integrations.base import Connector

    try:
        connector = registry.get_connector(slug)
    except registry.UnknownProvider:
        known = ", ".join(spec.slug for spec in registry.all_specs())
        raise ProviderNotBenchmarkable(f"sync_import: unknown provider {slug!r} (known: {known})") from None
    missing = []
    if not connector.streams:
        missing.append(f"{connector.__name__}.streams is empty")
    if connector.pull is Connector.pull:
        missing.append(f"{connector.__name__} does not implement pull()")
    if missing:
        raise ProviderNotBenchmarkable(
            f"sync_import --provider {slug}: the {connector.spec.name} connector cannot import yet "
            f"({'; '.join(missing)}). Run without --provider to measure the engine against the generic fake.")
    raise ProviderNotBenchmarkable(
        f"sync_import --provider {slug}: no fake {connector.spec.name} server in tests/fakes/ serves a seeded "
        f"listing of N records yet; add one (with the provider's real largest page size) to benchmark it.")


def progress_reporter():
    last_report = [time.monotonic()]

    def progress(sync_run, _stream, _page):
        if time.monotonic() - last_report[0] >= 1.0:
            last_report[0] = time.monotonic()
            say(f"  {sync_run.pulled} records, RSS {current_rss_mb()} MB")
    return progress


def run(args: argparse.Namespace) -> None:
    from app import tuning
    from bench import jira_datacenter, task_trackers
    if args.in_turn:
        tuning.PULL_AHEAD = False
    if args.provider in task_trackers.PROVIDERS:
        task_trackers.run_import(args)
        return
    if args.provider == jira_datacenter.SLUG:
        jira_datacenter.run_import(args)
        return
    if args.provider and args.provider not in BENCHMARKED_PROVIDERS:
        check_provider(args.provider)
    if args.provider == "jira":
        run_jira(args)
        return
    if args.provider in ("google_calendar", "outlook_calendar"):
        from bench import calendar_import

        calendar_import.run(args, args.provider)
        return
    if args.provider in ("github", "gitlab"):
        run_tracker(args)
        return
    from app.services.sync_service import run_sync
    from tests.fakes.paged_provider import PagedProvider

    with bench_app(), PagedProvider(records=args.records, max_page_size=100) as fake:
        register_paged_fake(fake.url)
        integration = make_paged_integration()
        baseline = current_rss_mb()
        say(f"fake provider at {fake.url} holds {args.records} records; RSS before the import "
            f"{baseline} MB (the fake's records live in this process too)")
        started = time.perf_counter()
        sync_run = run_sync(integration.id, progress=progress_reporter())
        seconds = time.perf_counter() - started
        if sync_run.status != "succeeded" or sync_run.created != args.records:
            raise SystemExit(f"sync_import: the run {sync_run.status} with {sync_run.created} of "
                             f"{args.records} records created: {sync_run.error}")
        say(f"imported {sync_run.created} records in {seconds:.2f} s; the import grew the peak RSS by "
            f"{peak_rss_mb() - baseline:.1f} MB over the {baseline} MB before it")
        emit({
            "records": sync_run.created,
            "requests": fake.stats.requests,
            "min_requests": max(1, math.ceil(args.records / fake.max_page_size)) + SETUP_CALLS,
            "seconds": round(seconds, 3),
            "records_per_s": round(sync_run.created / seconds, 1),
            "peak_rss_mb": peak_rss_mb(),
        })


def run_jira(args: argparse.Namespace) -> None:
    """The first import of N Jira issues (and their projects) through the real connector,
    its OAuth bearer auth and its request budget, from the fake Jira Cloud served by another
    process (bench.remote_jira), so that `cpu_ms_per_record` is TimeHub's CPU alone."""
    from app.integrations import ratelimit
    from app.services.sync_service import run_sync
    from bench.remote_jira import remote_jira

    with bench_app(), remote_jira(args.records, JIRA_PROJECTS) as fake:
        if args.unlimited:
            ratelimit.overrides["jira"] = ratelimit.RateLimit(UNREACHED_REQUESTS_PER_SECOND, 1.0)
        integration = make_jira_integration(fake)
        projects = len(fake.projects)
        baseline = current_rss_mb()
        say(f"fake Jira (process of its own) at {fake.api.base_url} holds {args.records} issues in {projects} "
            f"projects; RSS before the import {baseline} MB; request budget "
            f"{'lifted' if args.unlimited else 'as configured'}")
        fake.api.clear()
        profile = _start_profile(args.profile)
        started, cpu_started = time.perf_counter(), time.process_time()
        sync_run = run_sync(integration.id, progress=progress_reporter())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        _dump_profile(profile, args.profile)
        created = args.records + projects
        if sync_run.status != "succeeded" or sync_run.created != created:
            raise SystemExit(f"sync_import: the run {sync_run.status} with {sync_run.created} of {created} "
                             f"records created: {sync_run.error}")
        say(f"imported {args.records} issues and {projects} projects in {seconds:.2f} s; the import grew the "
            f"peak RSS by {peak_rss_mb() - baseline:.1f} MB over the {baseline} MB before it")
        emit({
            "records": args.records,
            "requests": fake.rest_requests(),
            "min_requests": max(1, math.ceil(args.records / JIRA_LARGEST_PAGE)) + JIRA_SETUP_CALLS,
            "seconds": round(seconds, 3),
            "records_per_s": round(args.records / seconds, 1),
            # CPU of TimeHub's process alone (connector, engine, database driver): the fake runs elsewhere.
            "cpu_ms_per_record": round(cpu * 1000 / args.records, 3),
            "peak_rss_mb": peak_rss_mb(),
            "load_average": round(os.getloadavg()[0], 2),
        })


def _start_profile(path: str | None):
    if path is None:
        return None
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    return profile


def _dump_profile(profile, path: str | None) -> None:
    """The profile of the import alone (it slows the import: not for the figures)."""
    if profile is None:
        return
    profile.disable()
    profile.dump_stats(path)
    say(f"profile of run_sync written to {path}")


def run_tracker(args: argparse.Namespace) -> None:
    """The first import of N GitHub or GitLab issues over two repositories / projects through
    the real connector, its OAuth bearer auth and its request budget, from the fake."""
    from app.services.sync_service import run_sync

    slug = args.provider
    with bench_app(), tracker_fake(slug, args.records, unlimited=args.unlimited) as fake:
        integration = make_tracker_integration(slug, fake)
        containers = len(fake.repos if slug == "github" else fake.projects)
        baseline = current_rss_mb()
        say(f"fake {slug} at {fake.api.base_url} holds {args.records} issues in {containers} containers; request "
            f"budget {'lifted' if args.unlimited else 'as configured'}")
        fake.api.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        sync_run = run_sync(integration.id, progress=progress_reporter())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        created = args.records + containers
        if sync_run.status != "succeeded" or sync_run.created != created:
            raise SystemExit(f"sync_import: the run {sync_run.status} with {sync_run.created} of {created} "
                             f"records created: {sync_run.error}")
        per_container = math.ceil(args.records / containers / TRACKER_LARGEST_PAGE)
        emit({
            "records": args.records,
            "requests": tracker_requests(fake),
            "min_requests": per_container * containers + TRACKER_SETUP_CALLS,
            "seconds": round(seconds, 3),
            "records_per_s": round(args.records / seconds, 1),
            "ms_per_record": round(seconds * 1000 / args.records, 3),
            "cpu_ms_per_record": round(cpu * 1000 / args.records, 3),
            "peak_rss_mb": peak_rss_mb(),
        })
