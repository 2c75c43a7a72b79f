/// Small HTML builders the sections share. Arguments named `html` are markup already;
/// every other string is escaped here.
enum HTML {
    /// A section with a stable id and an `<h2>`.
    static func section(id: String, title: String, _ html: String) -> String {
        "<section id=\"\(id)\">\n<h2>\(Format.escape(title))</h2>\n\(html)</section>\n"
    }

    /// A paragraph of grey explanatory text.
    static func note(_ text: String) -> String { "<p class=\"note\">\(Format.escape(text))</p>\n" }

    /// A table; `header` is plain text, `rows` are cells of markup; columns in
    /// `numeric` are right-aligned.
    /// Header cells of columns in `vertical` are written bottom to top (narrow columns).
    static func table(header: [String], rows: [[String]], numeric: Set<Int> = [], vertical: Set<Int> = [],
                      className: String? = nil) -> String {
        var out = "<table" + (className.map { " class=\"\($0)\"" } ?? "") + ">\n<thead><tr>"
        for (k, h) in header.enumerated() {
            let classes = (numeric.contains(k) ? ["num"] : []) + (vertical.contains(k) ? ["v"] : [])
            out += "<th\(classes.isEmpty ? "" : " class=\"\(classes.joined(separator: " "))\"")>\(Format.escape(h))</th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        for row in rows {
            out += "<tr>"
            for (k, cell) in row.enumerated() { out += "<td\(numeric.contains(k) ? " class=\"num\"" : "")>\(cell)</td>" }
            out += "</tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    /// A figure: markup with a caption of plain text.
    static func figure(_ html: String, caption: String? = nil) -> String {
        "<figure>" + html + (caption.map { "<figcaption>\(Format.escape($0))</figcaption>" } ?? "") + "</figure>\n"
    }

    /// The page's only stylesheet: light theme, system fonts, readable at 1200 px.
    static let style = """
    body{margin:0;background:#fff;color:#222;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
    main{max-width:1160px;margin:0 auto;padding:12px 20px 48px}
    h1{font-size:22px;margin:10px 0 6px}
    h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid #ddd}
    h3{font-size:15px;margin:18px 0 6px}
    h4{font-size:13px;margin:10px 0 2px}
    nav{font-size:13px;margin-bottom:6px}
    nav a{margin-right:14px;color:#2b5d8a}
    table{border-collapse:collapse;font-size:13px;margin:6px 0}
    th,td{padding:3px 9px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
    th{background:#f6f6f6;font-weight:600}
    .num{text-align:right;font-variant-numeric:tabular-nums}
    table.facts th{background:none;font-weight:600;color:#555}
    .note{color:#666;font-size:12.5px;margin:4px 0 8px}
    .warn{color:#a0522d}
    .charts{display:flex;flex-wrap:wrap;gap:10px 14px}
    figure{margin:0}
    figcaption{font-size:12px;color:#666;max-width:370px}
    .multiples{display:flex;flex-wrap:wrap;gap:2px 4px;margin-bottom:6px}
    svg{font-size:11px;overflow:visible}
    svg text:not([fill]){fill:#333}
    .bar{display:block;height:4px;background:#4e79a7;margin-top:1px}
    .bar.flip{background:#e15759}
    .num .bar{margin-left:auto}
    table.flagged th.v{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;text-align:left;vertical-align:top;padding:6px 3px}
    table.flagged th{vertical-align:bottom}
    table.flagged td{padding:3px 7px}
    .grid-row{display:flex;gap:16px;align-items:flex-start;margin-bottom:14px}
    .grid{position:relative;display:inline-block;line-height:0}
    .grid img{image-rendering:pixelated}
    .grid span{position:absolute}
    ol.tiles{display:grid;grid-auto-flow:column;grid-template-columns:repeat(2,minmax(0,1fr));column-gap:12px;list-style:none;padding:0;margin:0;flex:1;min-width:0;font-size:11.5px;line-height:1.45;color:#333}
    ol.tiles li{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
    ol.tiles b{display:inline-block;width:2em;margin-right:5px;text-align:right;font-weight:normal;color:#888}
    ol.tiles i{font-style:normal;color:#777;margin:0 3px}
    ol.tiles li.flipped{color:#c0392b}
    .swatch{display:inline-block;width:11px;height:11px;vertical-align:-1px;margin-right:4px}
    code{font-size:12.5px}
    """
}
