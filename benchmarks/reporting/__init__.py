"""Reports, from record files only (never methods or torch): tables (``report``), regime verdicts
(``regime``), the grid summary (``summary``), figures (``figures``, ``figstyle``), the results page
(``site``) and a whole report folder (``publish``)."""
