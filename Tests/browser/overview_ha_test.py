#!/usr/bin/env python3
"""The console's overview on a highly available cluster (run by IntegrationTests/ChaosTests):
the ZooKeeper ensemble with each server's mode, the store's primary, and its synchronous standby.

    overview_ha_test.py --base http://127.0.0.1:PORT/weevent --primary HOST:PORT --standby NAME --out DIR

Exits 0 when the overview shows them, 1 with what it showed otherwise.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_test import Console  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--primary", required=True, help="the store's primary, HOST:PORT")
    parser.add_argument("--standby", required=True, help="the synchronous standby's name")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    c = Console(args.out, "chromium")
    try:
        c.open(f"{args.base}/console/#/overview")
        ensemble = c.wait("every ensemble server serving", lambda: (
            c.text('[data-test="status-ensemble"]').count("leader") == 1
            and c.text('[data-test="status-ensemble"]').count("follower") == 2
            and c.text('[data-test="status-ensemble"]')))
        primary = c.wait("the store's primary", lambda: args.primary in c.text('[data-test="status-pg-primary"]')
                         and c.text('[data-test="status-pg-primary"]'))
        standbys = c.wait("the synchronous standby", lambda: (
            args.standby in c.text('[data-test="status-pg-standbys"]')
            and "sync, streaming" in c.text('[data-test="status-pg-standbys"]')
            and "bytes behind" in c.text('[data-test="status-pg-standbys"]')
            and c.text('[data-test="status-pg-standbys"]')))
        c.shot("overview-ha", show='[data-test="status"]')
        print(f"ensemble: {ensemble!r}")
        print(f"primary: {primary!r}")
        print(f"standbys: {standbys!r}")
    except Exception as error:  # what the page showed, for the test's message
        print(f"overview: {error}")
        try:
            print(c.text('[data-test="status"]'))
        except Exception:
            pass
        return 1
    finally:
        c.driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
