//! The service map's HTML drawing: the page `graph --format html` writes and
//! the report embeds. The map itself is the engine's (`palisade_engine::map`).

pub use palisade_engine::map::*;

/// The page `graph --format html` writes: one file, no network needed
pub fn html_page(map: &ServiceMap, title: &str) -> Result<String, handlebars::RenderError> {
    let context =
        serde_json::json!({ "title": title, "style": GRAPH_CSS, "script": GRAPH_JS, "data": map.embedded_json() });
    engine()?.render_template(include_str!("templates/graph.html.hbs"), &context)
}

/// A handlebars engine (HTML escaping on) that knows the map partial
pub fn engine() -> Result<handlebars::Handlebars<'static>, handlebars::RenderError> {
    let mut engine = handlebars::Handlebars::new();
    engine.set_strict_mode(true);
    engine
        .register_partial("map", include_str!("templates/map.html.hbs"))
        .map_err(|e| handlebars::RenderError::from(handlebars::RenderErrorReason::Other(e.to_string())))?;
    Ok(engine)
}

/// The drawing's stylesheet and script, shared with the HTML report
pub const GRAPH_CSS: &str = include_str!("templates/graph.css");
/// See [`GRAPH_CSS`]
pub const GRAPH_JS: &str = include_str!("templates/graph.js");
