"""What a run leaves behind: results.jsonl, summary.json, report.html, CSV."""

__all__: list[str] = []
