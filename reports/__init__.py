"""recpim.reports: breakdown, sweep and search reports as Markdown + standalone HTML + JSON + PNG.

breakdown.write_breakdown_report, sweep_report.write_sweep_report, search_report.write_search_report,
html.write_index, from_json.write_report_from_json; plots.py draws the PNGs (matplotlib, Agg).
"""
