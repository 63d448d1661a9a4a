"""The report of an embedding access profile (`recpim data profile`): per field its distinct ids,
the share of lookups to the hottest 0.1 / 1 / 10 % of rows and the fitted Zipf exponent, and the
measured hot-share curves of the most skewed fields (PNG)."""

from __future__ import annotations

from pathlib import Path

from recpim.arch.data.profile import DataProfile
from recpim.reports.document import Document, ReportFiles
from recpim.reports.writer import write_documents

CURVES = 8   # fields drawn in the plot, the most skewed first


def _plot(profile: DataProfile, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5))
    for field in sorted(profile.fields, key=lambda f: -f.zipf_exponent)[:CURVES]:
        ax.plot([f * 100 for f, _ in field.hot_shares], [s * 100 for _, s in field.hot_shares], marker="o",
                label=f"{field.name} (s = {field.zipf_exponent:.2f})")
    ax.set(xscale="log", xlabel="hottest rows (% of distinct ids)", ylabel="share of lookups (%)",
           title=f"{profile.dataset}: access skew")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_profile_report(profile: DataProfile, out_dir: Path | str, name: str = "profile_report") -> ReportFiles:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Embedding access profile: {profile.dataset}")
    doc.paragraph(f"{profile.rows:,} rows read ({profile.bad_rows} bad). Shares are of lookups to the hottest "
                  "ceil(fraction x distinct ids) rows; the Zipf exponent is fitted by maximum likelihood.")
    doc.table(["field", "vocab", "distinct ids", "pooling", "hottest 0.1 %", "hottest 1 %", "hottest 10 %",
               "Zipf s"],
              [[f.name, f.vocab_size, f.distinct_ids, f.pooling, f.share_of_hottest(0.001),
                f.share_of_hottest(0.01), f.share_of_hottest(0.1), f.zipf_exponent] for f in profile.fields])
    doc.image(_plot(profile, out_dir / "profile_skew.png"), "access skew",
              f"hot-share curves of the {CURVES} most skewed fields")
    return write_documents(doc, out_dir, name, profile.to_json_dict())
