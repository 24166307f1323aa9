"""The little CSS the page adds: legend chips under each result."""

CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
.seg-legend { display: flex; flex-wrap: wrap; gap: 0.35rem 0.5rem; margin: 0.1rem 0 0.4rem; }
.seg-chip {
  display: inline-flex; align-items: center; gap: 0.4rem; padding: 0.15rem 0.6rem 0.15rem 0.35rem;
  border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 999px; font-size: 0.9rem; line-height: 1.5;
}
.seg-chip small { opacity: 0.65; }
.seg-swatch {
  width: 0.95rem; height: 0.95rem; border-radius: 0.25rem; display: inline-block;
  border: 1px solid rgba(128, 128, 128, 0.6);
}
</style>
"""
