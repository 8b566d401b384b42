//! Similar logs: a bounded TF-IDF index of log records (one per tenant) answering "which
//! records look like this text", by cosine similarity.
//!
//! - Tokens: lower-cased runs of letters and digits longer than two characters, minus a short
//!   stop list and minus tokens with a digit longer than three characters (ids, counters and
//!   timestamps say nothing about what a message is about, and would drown the vocabulary).
//! - Weights: term frequency × IDF with `idf = ln(N / df) + 1`, from document frequencies kept
//!   up to date on every insert and eviction (no rebuild, no pass over the corpus).
//! - Search walks the posting lists of the query's terms only, so it costs the matching
//!   documents, not the index size. Scores are in (0, 1]; ties go to the newer record.
//! - Capacity: at most `max_entries` documents; inserting past it evicts the oldest. Terms no
//!   document uses any more are forgotten, so the vocabulary is bounded by the documents.

use std::collections::{HashMap, VecDeque};

/// Most distinct terms kept per document.
pub const MAX_TERMS_PER_DOC: usize = 64;

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "not", "with", "this", "that", "from", "has", "but", "have", "its", "been",
    "also", "than", "into",
];

/// The terms of `text` with their counts, in first-seen order, at most [`MAX_TERMS_PER_DOC`].
pub fn terms(text: &str) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if raw.chars().count() <= 2 {
            continue;
        }
        let has_digit = raw.chars().any(|c| c.is_ascii_digit());
        if has_digit && raw.len() > 3 {
            continue;
        }
        let token = raw.to_lowercase();
        if STOP_WORDS.contains(&token.as_str()) {
            continue;
        }
        let full = out.len() >= MAX_TERMS_PER_DOC;
        match out.iter_mut().find(|(t, _)| *t == token) {
            Some((_, n)) => *n += 1,
            None if !full => out.push((token, 1)),
            None => {}
        }
    }
    out
}

struct Entry<T> {
    seq: u64,
    payload: T,
    /// (term id, term frequency = count / total terms).
    terms: Vec<(u32, f32)>,
}

/// A hit: the payload of a similar record and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<T> {
    pub score: f64,
    pub payload: T,
}

/// A bounded TF-IDF index of payloads `T` by their text.
pub struct SimilarIndex<T> {
    max_entries: usize,
    docs: VecDeque<Entry<T>>,
    next_seq: u64,
    vocabulary: HashMap<String, u32>,
    /// By term id: the term, its document frequency and its postings (document seqs, oldest first).
    term_text: Vec<String>,
    df: Vec<u32>,
    postings: Vec<VecDeque<u64>>,
    free_terms: Vec<u32>,
}

impl<T: Clone> SimilarIndex<T> {
    /// An empty index holding at most `max_entries` documents (at least one).
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            docs: VecDeque::new(),
            next_seq: 0,
            vocabulary: HashMap::new(),
            term_text: Vec::new(),
            df: Vec::new(),
            postings: Vec::new(),
            free_terms: Vec::new(),
        }
    }

    /// Documents held.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Distinct terms held.
    pub fn vocabulary_len(&self) -> usize {
        self.vocabulary.len()
    }

    /// The capacity.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    fn term_id(&mut self, term: String) -> u32 {
        if let Some(id) = self.vocabulary.get(&term) {
            return *id;
        }
        let id = match self.free_terms.pop() {
            Some(id) => {
                self.term_text[id as usize].clone_from(&term);
                id
            }
            None => {
                self.term_text.push(term.clone());
                self.df.push(0);
                self.postings.push(VecDeque::new());
                (self.term_text.len() - 1) as u32
            }
        };
        self.vocabulary.insert(term, id);
        id
    }

    /// Indexes `payload` under `text`; returns how many older documents were evicted (0 or 1).
    /// A text without terms is not indexed.
    pub fn insert(&mut self, text: &str, payload: T) -> usize {
        let counted = terms(text);
        if counted.is_empty() {
            return 0;
        }
        let mut evicted = 0;
        while self.docs.len() >= self.max_entries {
            self.evict_oldest();
            evicted += 1;
        }
        let total: u32 = counted.iter().map(|(_, n)| n).sum();
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut doc_terms = Vec::with_capacity(counted.len());
        for (term, n) in counted {
            let id = self.term_id(term);
            self.df[id as usize] += 1;
            self.postings[id as usize].push_back(seq);
            doc_terms.push((id, n as f32 / total as f32));
        }
        self.docs.push_back(Entry { seq, payload, terms: doc_terms });
        evicted
    }

    fn evict_oldest(&mut self) {
        let Some(old) = self.docs.pop_front() else { return };
        for (id, _) in old.terms {
            let i = id as usize;
            let front = self.postings[i].pop_front();
            debug_assert_eq!(front, Some(old.seq), "postings are in insertion order");
            self.df[i] -= 1;
            if self.df[i] == 0 {
                let text = std::mem::take(&mut self.term_text[i]);
                self.vocabulary.remove(&text);
                self.free_terms.push(id);
            }
        }
    }

    fn idf(&self, id: u32) -> f64 {
        let n = self.docs.len().max(1) as f64;
        (n / f64::from(self.df[id as usize].max(1))).ln() + 1.0
    }

    /// The `k` documents most similar to `query`, best first (score > 0), ties newest first.
    ///
    /// Candidates are the documents sharing an informative term with the query (one held by at
    /// most half the documents; the rarest term when all are common), scored exactly. A record
    /// that shares only very common words with the query is therefore not a candidate: its score
    /// would be near the bottom anyway, and walking those postings would cost the whole index.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit<T>> {
        if k == 0 || self.docs.is_empty() {
            return Vec::new();
        }
        let q = terms(query);
        let total: u32 = q.iter().map(|(_, n)| n).sum();
        let unknown_idf = (self.docs.len() as f64).ln() + 1.0;
        let mut q_norm = 0f64;
        let mut weights: HashMap<u32, f64> = HashMap::new();
        for (term, n) in &q {
            let tf = f64::from(*n) / f64::from(total.max(1));
            match self.vocabulary.get(term) {
                Some(id) => {
                    let w = tf * self.idf(*id);
                    q_norm += w * w;
                    weights.insert(*id, w);
                }
                // Unknown terms weigh as a term of document frequency 1: they lengthen the query.
                None => q_norm += (tf * unknown_idf).powi(2),
            }
        }
        if weights.is_empty() || q_norm == 0.0 {
            return Vec::new();
        }
        let half = (self.docs.len() / 2).max(1) as u32;
        let mut walk: Vec<u32> = weights.keys().copied().filter(|id| self.df[*id as usize] <= half).collect();
        if walk.is_empty() {
            walk.extend(weights.keys().copied().min_by_key(|id| self.df[*id as usize]));
        }
        let front = self.docs.front().map_or(0, |d| d.seq);
        let mut candidates: Vec<u64> = walk.iter().flat_map(|id| self.postings[*id as usize].iter().copied()).collect();
        candidates.sort_unstable();
        candidates.dedup();
        let q_norm = q_norm.sqrt();
        let mut scored: Vec<(f64, u64)> = candidates
            .into_iter()
            .filter_map(|seq| {
                let doc = &self.docs[(seq - front) as usize];
                let (mut dot, mut d_norm) = (0f64, 0f64);
                for (t, tf) in &doc.terms {
                    let w = f64::from(*tf) * self.idf(*t);
                    d_norm += w * w;
                    if let Some(wq) = weights.get(t) {
                        dot += wq * w;
                    }
                }
                let score = (dot / (q_norm * d_norm.sqrt())).min(1.0);
                (score > 0.0).then_some((score, seq))
            })
            .collect();
        let by_score = |a: &(f64, u64), b: &(f64, u64)| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_by(by_score);
        scored
            .into_iter()
            .map(|(score, seq)| Hit { score, payload: self.docs[(seq - front) as usize].payload.clone() })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn terms_drop_short_words_stop_words_and_long_tokens_with_digits() {
        let t = terms("The DB connection to 10.0.0.7 failed: timeout after 3000ms for user_4812 (pool db-main)");
        let words: Vec<&str> = t.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(words, ["connection", "failed", "timeout", "after", "user", "pool", "main"]);
        assert_eq!(terms("error error ERROR"), vec![("error".to_owned(), 3)]);
        assert!(terms("a b c 12 to of").is_empty());
        assert_eq!(terms("http 500 returned").len(), 3, "short numbers (status codes) are kept");
        let many: String = (0..200)
            .map(|i| format!("word{} ", char::from(b'a' + (i % 26) as u8).to_string().repeat(1 + i / 26)))
            .collect();
        assert!(terms(&many).len() <= MAX_TERMS_PER_DOC);
    }

    #[test]
    fn the_most_similar_record_ranks_first() {
        let mut ix = SimilarIndex::new(100);
        ix.insert("connection refused by database primary", "db-refused");
        ix.insert("payment declined card expired", "payment");
        ix.insert("connection reset by peer while reading response", "reset");
        ix.insert("database primary failover started", "failover");
        let hits = ix.search("database connection refused", 3);
        assert_eq!(hits[0].payload, "db-refused");
        assert!(hits[0].score > hits[1].score);
        assert!(hits.iter().all(|h| h.score > 0.0 && h.score <= 1.0));
        assert!(!hits.iter().any(|h| h.payload == "payment"), "nothing in common, not a hit");
        assert!(ix.search("zebra giraffe", 5).is_empty());
        assert!(ix.search("", 5).is_empty());
        let exact = ix.search("payment declined card expired", 1);
        assert!((exact[0].score - 1.0).abs() < 1e-9, "{}", exact[0].score);
    }

    #[test]
    fn the_oldest_record_is_evicted_and_its_terms_forgotten() {
        let mut ix = SimilarIndex::new(2);
        assert_eq!(ix.insert("alpha bravo", 1), 0);
        assert_eq!(ix.insert("charlie delta", 2), 0);
        assert_eq!(ix.insert("echo foxtrot", 3), 1);
        assert_eq!(ix.len(), 2);
        assert!(ix.search("alpha", 5).is_empty());
        assert_eq!(ix.vocabulary_len(), 4, "alpha and bravo are forgotten");
        assert_eq!(ix.search("echo", 5)[0].payload, 3);
        assert_eq!(ix.insert("12 ab", 4), 0, "a text without terms is not indexed");
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn ties_go_to_the_newer_record() {
        let mut ix = SimilarIndex::new(10);
        ix.insert("disk full on volume", "old");
        ix.insert("disk full on volume", "new");
        let hits = ix.search("disk full", 2);
        assert_eq!(hits.iter().map(|h| h.payload).collect::<Vec<_>>(), ["new", "old"]);
    }

    proptest! {
        #[test]
        fn stays_bounded_and_consistent(
            texts in proptest::collection::vec("[a-e]{3,5}( [a-e]{3,5}){0,6}", 1..200),
            cap in 1usize..20,
            query in "[a-e]{3,5}( [a-e]{3,5}){0,3}",
        ) {
            let mut ix = SimilarIndex::new(cap);
            for (i, t) in texts.iter().enumerate() {
                ix.insert(t, i);
            }
            prop_assert!(ix.len() <= cap);
            let live: std::collections::HashSet<String> =
                ix.docs.iter().flat_map(|d| d.terms.iter().map(|(t, _)| ix.term_text[*t as usize].clone())).collect();
            prop_assert_eq!(live.len(), ix.vocabulary_len());
            let hits = ix.search(&query, 5);
            prop_assert!(hits.len() <= 5);
            prop_assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
            prop_assert!(hits.iter().all(|h| h.score > 0.0 && h.score <= 1.0 + 1e-9));
        }
    }
}
