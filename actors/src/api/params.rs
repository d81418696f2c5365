//! Query parameters, decoded properly (`fieldSelector=metadata.name%3Dweb`).

use actix_web::HttpRequest;

/// The first value of query parameter `name`, if present.
pub fn get(req: &HttpRequest, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Every value of a repeated query parameter (`command=sh&command=-c`), in order.
pub fn all(req: &HttpRequest, name: &str) -> Vec<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| (k == name).then_some(v))
        .collect()
}

/// Is the parameter present as a flag (`verbose`, `watch=true`, `watch=1`)?
pub fn flag(req: &HttpRequest, name: &str) -> bool {
    get(req, name).is_some_and(|v| v.is_empty() || v == "true" || v == "1")
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn values_are_percent_decoded() {
        let req = TestRequest::get()
            .uri("/api/v1/pods?fieldSelector=metadata.name%3Dweb%2C&limit=500&watch=1&verbose")
            .to_http_request();
        assert_eq!(get(&req, "fieldSelector").as_deref(), Some("metadata.name=web,"));
        assert_eq!(get(&req, "limit").as_deref(), Some("500"));
        assert!(flag(&req, "watch") && flag(&req, "verbose") && !flag(&req, "dryRun"));
    }
}
