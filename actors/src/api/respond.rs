//! Writing a `Status` as an HTTP response (the `Status` itself is made in `k3rs_api::status`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use k3rs_api::Status;

pub fn status(s: Status) -> HttpResponse {
    let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(s)
}
