"""Contact import benchmark (run by hand: ``.venv/bin/python bench/contacts_import.py``).

An Outlook CSV export of 10,000 contacts (names, company, job title, two
e-mail addresses, two phones, categories, a note), imported into a new
business's shared address book through the same service calls the
panel's import page makes: the preview (:meth:`Contacts.plan_import`,
which reads and checks every row and de-duplicates by e-mail), then the
import itself (one transaction), then the first listing of the address
book (the panel's contacts page parses every card once). A second file
of the same people is then previewed: every row is a duplicate.

Each figure is the median of ``--runs`` runs, each on a fresh business.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import settings  # noqa: E402
from appliance.app import App  # noqa: E402

HEADER = ["First Name", "Last Name", "Company", "Job Title", "E-mail Address", "E-mail 2 Address",
          "Business Phone", "Mobile Phone", "Categories", "Notes"]


def outlook_csv(count: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for n in range(count):
        writer.writerow([f"Given{n}", f"Family{n}", f"Company {n % 700}", "Buyer", f"person{n}@customers.example",
                         f"p{n}@home.example", f"+33 1 {n % 100:02d} {n % 97:02d} 00 00", f"+33 6 {n % 89:02d} 00 00 00",
                         "Customers;Spring fair" if n % 3 else "Suppliers", f"Met at the fair, table {n % 40}."])
    return out.getvalue()


def main(count: int, runs: int) -> None:
    text = outlook_csv(count)
    print(f"{count} contacts, {len(text.encode()) / 1024 / 1024:.1f} MiB of Outlook CSV")
    figures: dict[str, list[float]] = {"preview": [], "import": [], "first listing": [], "duplicates preview": []}
    with tempfile.TemporaryDirectory() as tmp:
        app = App(settings.from_mapping({}), Path(tmp) / "state")
        try:
            contacts = app.core.contacts
            for run in range(runs):
                slug = f"shop{run}"
                app.provisioning.create_tenant(slug, "Shop", f"{slug}.example")
                started = time.perf_counter()
                plan = contacts.plan_import(slug, text)
                figures["preview"].append(time.perf_counter() - started)
                assert len(plan.new) == count and not plan.skipped, (len(plan.new), plan.skipped[:3])
                started = time.perf_counter()
                done = contacts.import_contacts(slug, text, actor=f"owner@{slug}.example")
                figures["import"].append(time.perf_counter() - started)
                assert len(done.items) == count
                started = time.perf_counter()
                listed = contacts.list(slug)
                figures["first listing"].append(time.perf_counter() - started)
                started = time.perf_counter()
                again = contacts.plan_import(slug, text)
                figures["duplicates preview"].append(time.perf_counter() - started)
                assert not again.new and len(again.skipped) == count
                assert listed.total == count, listed.total
        finally:
            app.close()
    for name, samples in figures.items():
        print(f"{name + ':':<20} median {statistics.median(samples):6.2f} s  (runs: "
              + ", ".join(f"{s:.2f}" for s in samples) + ")")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    main(args.contacts, args.runs)
