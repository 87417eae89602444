//! A model on its own thread serving requests from any thread with
//! continuous batching: submit, stream text, cancel, or wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Result};

use super::batch::{Batch, Request};
use super::engine::{GenerateParams, Generation, Model};

pub enum Streamed {
    Text(String),
    Done(Result<Generation>),
}

/// A submitted request: its events, and a way to cancel it.
pub struct Pending {
    events: Receiver<Streamed>,
    cancel: Arc<AtomicBool>,
}

impl Pending {
    /// Ends the request at its next step; `wait` then returns what it had.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The next event; `None` after `Done`.
    pub fn next_event(&self) -> Option<Streamed> {
        self.events.recv().ok()
    }

    /// Waits for the result, skipping streamed text.
    pub fn wait(self) -> Result<Generation> {
        while let Some(event) = self.next_event() {
            if let Streamed::Done(result) = event {
                return result;
            }
        }
        Err(anyhow!("the scheduler stopped before the request finished"))
    }
}

pub struct Scheduler {
    submissions: Option<Sender<Request<'static>>>,
    worker: Option<JoinHandle<Model>>,
}

impl Scheduler {
    /// Moves the model onto a worker thread that runs up to `max_batch` sequences at once.
    pub fn start(mut model: Model, max_batch: usize) -> Scheduler {
        let (submissions, incoming) = mpsc::channel::<Request<'static>>();
        let worker = std::thread::Builder::new()
            .name("precis-engine".into())
            .spawn(move || {
                let mut batch = Batch::new(max_batch);
                loop {
                    if batch.is_empty() {
                        match incoming.recv() {
                            Ok(request) => batch.admit(request),
                            Err(_) => break,
                        }
                    }
                    while let Ok(request) = incoming.try_recv() {
                        batch.admit(request);
                    }
                    // Failures reach each request's Done event; the loop goes on.
                    batch.step(&mut model);
                }
                model
            })
            .expect("spawn the engine thread");
        Scheduler { submissions: Some(submissions), worker: Some(worker) }
    }

    pub fn submit(&self, prompt: Vec<u32>, params: GenerateParams) -> Pending {
        let (events, receiver) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let text_events = events.clone();
        let abandon = cancel.clone();
        let request = Request::new(
            prompt,
            params,
            // A dropped Pending cancels its request.
            Box::new(move |text| {
                if text_events.send(Streamed::Text(text.to_string())).is_err() {
                    abandon.store(true, Ordering::Relaxed);
                }
            }),
            Box::new(move |result| {
                let _ = events.send(Streamed::Done(result));
            }),
        )
        .with_cancel(cancel.clone());
        // A stopped worker drops the request, which ends `wait` with an error.
        if let Some(submissions) = &self.submissions {
            let _ = submissions.send(request);
        }
        Pending { events: receiver, cancel }
    }

    /// Finishes the requests in flight and returns the model.
    pub fn shutdown(mut self) -> Model {
        self.submissions.take();
        self.worker.take().expect("running").join().expect("engine thread panicked")
    }
}
