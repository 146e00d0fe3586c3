use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match stockade::cli::run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
