//! SVG chart.
pub fn write_svg(
    _file: &std::path::Path,
    _name: &str,
    _sim: &crate::Sim,
    _with: &crate::RunReport,
    _without: Option<&crate::RunReport>,
) -> Result<(), String> {
    Err("not yet".into())
}
