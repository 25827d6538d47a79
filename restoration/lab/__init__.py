"""The app-facing layer: what each tab of the Gradio app (``ui/``) does, free of any UI code, one
module per tab (``codecs``, ``restore``, ``sr``, ``batch``, ``dashboards``), what they share
(``common``: the web's input door, form fields, error maps, estimates in words, result files),
the tables that fit the page (``tables``) and the work model of the estimates (``cost``). The tabs
call the same actions as the CLI (``restoration.pipelines``); ``ui`` reaches the package only
through here and ``restoration.core``."""
