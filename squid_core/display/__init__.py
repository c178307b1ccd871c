"""How an image and its heatmap are shown, without Qt (used by the viewer's panes)."""
