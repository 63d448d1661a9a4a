"""recpim.reports: breakdown, sweep and search reports as Markdown + standalone HTML + JSON + PNG.

breakdown.write_breakdown_report (a CostReport), sweep_report.write_sweep_report (a SweepResult),
search_report.write_search_report (FrontPoints), search_outputs.write_search_outputs (a
SearchResult: its data files and reports), html.write_index, from_json.write_report_from_json
(reads a result file into those types). document.py is the model the writers share, markdown.py
and html.py render it, writer.write_documents writes every form; plots.py draws the PNGs
(matplotlib, Agg).
"""
