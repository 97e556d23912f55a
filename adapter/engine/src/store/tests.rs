//! Store tests: staleness, retention, the series cap and the metric filter.

use super::*;

fn target() -> Vec<(String, String)> {
    vec![("instance".into(), "a".into()), ("job".into(), "j".into())]
}

/// Demonstrates that a series missing from a scrape gets a stale marker, and target labels apply.
#[test]
fn staleness_and_target_labels() {
    let mut s = Store::new(StoreConfig::default());
    let r = s.ingest(&target(), 1000, b"a{job=\"x\"} 1\nb 2\n").unwrap();
    assert_eq!((r.samples, r.new_series), (2, 2));
    let r = s.ingest(&target(), 2000, b"a{job=\"x\"} 3\n").unwrap();
    assert_eq!((r.samples, r.stale_marked), (1, 1));
    let b = s.select(&[Matcher::equal("__name__", "b")]);
    assert_eq!(b[0].labels().to_string(), r#"b{instance="a", job="j"}"#);
    assert!(is_stale(b[0].last_at_or_before(2000).unwrap().1));
    let a = s.select(&[Matcher::equal("exported_job", "x")]);
    assert_eq!(
        a[0].range(0, 3000).collect::<Vec<_>>(),
        vec![(1000, 1.0), (2000, 3.0)]
    );
    s.mark_target_down(&target(), 3000);
    let a = s.select(&[Matcher::equal("__name__", "a")]);
    assert!(is_stale(a[0].last_at_or_before(3000).unwrap().1));
    assert_eq!(s.sample_count(), 5);
}

/// Demonstrates retention, the series cap, the filter and duplicate detection.
#[test]
fn limits() {
    let mut s = Store::new(StoreConfig {
        retention: Duration::from_secs(10),
        max_series: 2,
        metric_filter: Some(["a".to_string(), "b".to_string(), "c".to_string()].into()),
    });
    let r = s
        .ingest(&target(), 0, b"a 1\nb 1\nc 1\nz 1\na 2\n")
        .unwrap();
    assert_eq!(
        (
            r.samples,
            r.dropped_series_limit,
            r.dropped_filtered,
            r.duplicates
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(
        r.errors[0].to_string(),
        r#"line 5: duplicate series a{instance="a", job="j"}"#
    );
    s.ingest(&target(), 20_000, b"a 1\n").unwrap();
    s.gc(20_000);
    // Retention drops whole chunks once their newest sample is older than the cutoff: a (0 s,
    // 20 s) and b (0 s, stale marker at 20 s) keep both samples.
    assert_eq!(s.series_count(), 2);
    assert_eq!(s.sample_count(), 4);
    s.gc(40_000);
    assert_eq!(s.series_count(), 0);
    // The target's series cache and the interned strings go with its series.
    assert_eq!(s.targets.len(), 0);
    assert_eq!(s.interner.len(), 0);
}

/// Demonstrates the per-scrape sample limit: a scrape with more kept samples than the limit
/// fails naming the excess, creates no series past the limit (however often it repeats, in
/// whatever order), filtered samples do not count, and another target is not affected.
#[test]
fn sample_limit_bounds_the_series_of_one_target() {
    let mut s = Store::new(StoreConfig {
        metric_filter: Some(["m".to_string()].into()),
        ..StoreConfig::default()
    });
    s.set_sample_limit(3);
    let body = |ids: &[u32]| {
        let mut b = String::from("other 1\nother{x=\"1\"} 1\n");
        for i in ids {
            b.push_str(&format!("m{{id=\"{i}\"}} 1\n"));
        }
        b
    };
    assert_eq!(
        s.ingest(&target(), 1000, body(&[1, 2, 3]).as_bytes())
            .unwrap()
            .samples,
        3
    );
    let e = s
        .ingest(&target(), 2000, body(&[1, 2, 3, 4, 5]).as_bytes())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the scrape has 2 samples of queried metrics beyond the limit of 3 per scrape"
    );
    let e = s.ingest(
        &target(),
        3000,
        body(&[9, 8, 7, 6, 5, 4, 3, 2, 1]).as_bytes(),
    );
    assert!(
        matches!(e, Err(Error::SampleLimit { limit: 3, over: 6 })),
        "{e:?}"
    );
    assert_eq!(
        s.series_count(),
        6,
        "3 from the first scrape, 3 from the reversed one"
    );
    // The failed scrape is rolled back before `ingest` returns: no reader sees any of it.
    let m = s.select(&[Matcher::equal("__name__", "m")]);
    assert!(m
        .iter()
        .all(|x| x.last_at_or_before(3000).is_none_or(|(_, v)| is_stale(v))));
    let other = vec![("instance".into(), "b".into()), ("job".into(), "j".into())];
    assert_eq!(
        s.ingest(&other, 3000, body(&[1, 2]).as_bytes())
            .unwrap()
            .samples,
        2
    );
}

/// Demonstrates that a strict scrape failing on a bad line loses its good lines too, before
/// `ingest` returns: nothing of the failed scrape is served, the target's series are stale at
/// its time, and a series only it named is not created.
#[test]
fn a_failed_strict_scrape_is_rolled_back_by_the_down_marker() {
    let mut s = Store::new(StoreConfig::default());
    let strict = ParseOptions {
        strict: true,
        ..ParseOptions::default()
    };
    s.ingest_with(&target(), 1000, b"a 1\n", &strict).unwrap();
    let e = s.ingest_with(&target(), 2000, b"a 2\nnew 5\nbad{ 1\n", &strict);
    assert!(e.is_err());
    let (t, v) = s.select(&[Matcher::equal("__name__", "a")])[0]
        .last_at_or_before(2000)
        .unwrap();
    assert_eq!(t, 2000);
    assert!(is_stale(v), "a is stale at the failed scrape, not {v}");
    assert!(s.select(&[Matcher::equal("__name__", "new")]).is_empty());
    assert_eq!(
        s.select(&[Matcher::equal("__name__", "a")])[0].last_at_or_before(1999),
        Some((1000, 1.0)),
        "the earlier scrape is kept"
    );
}

/// Demonstrates the per-target series limit: a target that writes new series every scrape
/// stops at the limit (the scrape fails naming the excess and is rolled back) while another
/// target still creates series, and once retention drops its old series it may create again.
#[test]
fn target_series_limit_bounds_a_target_that_changes_its_series() {
    let mut s = Store::new(StoreConfig {
        retention: Duration::from_secs(10),
        max_series: 10,
        metric_filter: None,
    });
    s.set_target_series_limit(4);
    let body = |ids: std::ops::Range<u32>| {
        ids.map(|i| format!("m{{id=\"{i}\"}} 1\n"))
            .collect::<String>()
    };
    assert_eq!(
        s.ingest(&target(), 0, body(0..3).as_bytes())
            .unwrap()
            .new_series,
        3
    );
    // Two known series, one new within the limit, two new beyond it.
    let e = s.ingest(&target(), 1000, body(1..6).as_bytes());
    assert!(
        matches!(e, Err(Error::TargetSeriesLimit { limit: 4, over: 2 })),
        "{e:?}"
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        "the target holds 4 series, the most one target may hold, and this scrape has 2 new series beyond them (earlier series count until retention drops them)"
    );
    assert_eq!(s.series_count(), 4);
    // The failed scrape is rolled back: its known series read stale at its time.
    let id1 = s.select(&[Matcher::equal("id", "1")]);
    let (t, v) = id1[0].last_at_or_before(1000).unwrap();
    assert!(t == 1000 && is_stale(v), "id 1 at {t}: {v}");
    // Ever new series: none is created, whatever the scrape.
    for (n, t) in (2..6).zip((2000..).step_by(1000)) {
        let e = s.ingest(&target(), t, body(n * 10..n * 10 + 3).as_bytes());
        assert!(
            matches!(e, Err(Error::TargetSeriesLimit { over: 3, .. })),
            "{e:?}"
        );
    }
    assert_eq!(s.series_count(), 4);
    // Another target is not affected: the store has room for it.
    let other = vec![("instance".into(), "b".into()), ("job".into(), "j".into())];
    assert_eq!(
        s.ingest(&other, 6000, body(0..4).as_bytes())
            .unwrap()
            .new_series,
        4
    );
    // Retention drops the first target's old series; then it may write new ones again.
    s.ingest(&other, 20_000, body(0..4).as_bytes()).unwrap();
    s.gc(20_000);
    assert_eq!(
        s.series_count(),
        4,
        "only the other target's series are left"
    );
    let r = s
        .ingest(&target(), 21_000, body(100..104).as_bytes())
        .unwrap();
    assert_eq!((r.new_series, r.samples), (4, 4));
}

/// Demonstrates that a target sending ever new series of metrics the store does not keep grows
/// nothing: the filter is checked by name, before the series cache.
#[test]
fn filtered_series_are_not_cached() {
    let mut s = Store::new(StoreConfig {
        metric_filter: Some(["m".to_string()].into()),
        ..StoreConfig::default()
    });
    for scrape in 0..5u32 {
        let mut body = String::from("m 1\n");
        for i in 0..1000 {
            body.push_str(&format!("envoy_x{{id=\"{}\"}} 1\n", scrape * 1000 + i));
        }
        let r = s
            .ingest(&target(), i64::from(scrape) * 1000, body.as_bytes())
            .unwrap();
        assert_eq!((r.samples, r.dropped_filtered), (1, 1000));
    }
    let t = &s.targets[&(
        "".into(),
        Labels::new(target().iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    )];
    assert_eq!(t.cache.len(), 1);
}

/// Demonstrates per-name history: a name kept from the start begins at the first successful
/// scrape; a name added later begins at the first successful scrape after it was added (a
/// failed one does not count), while names already kept keep their start; the pattern keeps
/// names of its own since the first scrape after it was set.
#[test]
fn history_begins_per_name_when_it_is_kept() {
    let mut s = Store::new(StoreConfig {
        metric_filter: Some(["a".to_string()].into()),
        ..StoreConfig::default()
    });
    s.set_keep_pattern(Some(regex::Regex::new("^(?:istio_.*)$").unwrap()));
    assert_eq!(s.history("a"), History::NotScraped);
    assert_eq!(s.history("istio_x"), History::NotScraped);
    assert_eq!(s.history("b"), History::NotKept);
    s.ingest(&target(), 1000, b"a 1\nb 1\nistio_x 1\n").unwrap();
    assert_eq!(s.history("a"), History::Since(1000));
    assert_eq!(s.history("istio_y"), History::Since(1000), "matched later");
    assert_eq!(s.history("b"), History::NotKept);
    assert!(s.select(&[Matcher::equal("__name__", "b")]).is_empty());

    let grace = Duration::from_secs(60);
    s.keep_metrics(&["a".to_string(), "b".to_string()].into(), 1500, grace);
    assert_eq!(s.history("a"), History::Since(1000), "a keeps its start");
    assert_eq!(s.history("b"), History::NotScraped);
    let strict = ParseOptions {
        strict: true,
        ..ParseOptions::default()
    };
    assert!(s
        .ingest_with(&target(), 2000, b"b 1\nbad{\n", &strict)
        .is_err());
    assert_eq!(s.history("b"), History::NotScraped, "a failed scrape");
    s.ingest(&target(), 3000, b"a 2\nb 2\n").unwrap();
    assert_eq!(s.history("b"), History::Since(3000));
    assert_eq!(s.history("a"), History::Since(1000));
    // An explicit name that the pattern also keeps: the earlier start.
    s.keep_metrics(&["istio_x".to_string()].into(), 3500, grace);
    assert_eq!(s.history("istio_x"), History::Since(1000));
}

/// Demonstrates the grace period: a name no longer wanted stays kept (samples stored, history
/// whole) until it ends, so wanting it again needs no new warm-up; after it the name leaves
/// the filter and wanting it again starts a new history.
#[test]
fn unwanted_names_stay_kept_for_the_grace_period() {
    let mut s = Store::new(StoreConfig {
        metric_filter: Some(HashSet::new()),
        ..StoreConfig::default()
    });
    let grace = Duration::from_secs(10);
    let want =
        |names: &[&str]| -> HashSet<String> { names.iter().map(|n| n.to_string()).collect() };
    s.keep_metrics(&want(&["a", "b"]), 0, grace);
    s.ingest(&target(), 1000, b"a 1\nb 1\n").unwrap();
    s.keep_metrics(&want(&["a"]), 2000, grace);
    assert_eq!(s.config().metric_filter, Some(want(&["a", "b"])));
    let r = s.ingest(&target(), 5000, b"a 2\nb 2\n").unwrap();
    assert_eq!(r.samples, 2, "b is still stored in its grace period");
    s.keep_metrics(&want(&["a", "b"]), 6000, grace);
    assert_eq!(
        s.history("b"),
        History::Since(1000),
        "wanted again: no new warm-up"
    );
    s.keep_metrics(&want(&["a"]), 7000, grace);
    s.ingest(&target(), 16_999, b"a 3\nb 3\n").unwrap();
    assert_eq!(s.history("b"), History::Since(1000), "grace ends at 17 s");
    s.gc(17_000);
    assert_eq!(s.history("b"), History::NotKept);
    assert_eq!(s.config().metric_filter, Some(want(&["a"])));
    let r = s.ingest(&target(), 18_000, b"a 4\nb 4\n").unwrap();
    assert_eq!((r.samples, r.dropped_filtered), (1, 1));
    s.keep_metrics(&want(&["a", "b"]), 19_000, grace);
    assert_eq!(s.history("b"), History::NotScraped, "a new history");
}

/// Demonstrates that a target is its URL and its labels: two targets on one `host:port` with
/// different paths (the same labels) each keep their series fresh, one going down marks only
/// its own series stale, and a series neither scrape writes is stale-marked by its own target.
#[test]
fn targets_with_the_same_labels_and_different_urls_are_apart() {
    let mut s = Store::new(StoreConfig::default());
    let opts = ParseOptions::default();
    let (one, two) = ("http://h:1/one", "http://h:1/two");
    s.ingest_scrape(one, &target(), 1000, b"a 1\n", &opts)
        .unwrap();
    let r = s
        .ingest_scrape(two, &target(), 1500, b"b 1\n", &opts)
        .unwrap();
    assert_eq!(r.stale_marked, 0, "b's target never wrote a");
    s.ingest_scrape(one, &target(), 2000, b"a 2\n", &opts)
        .unwrap();
    s.ingest_scrape(two, &target(), 2500, b"b 2\n", &opts)
        .unwrap();
    s.mark_scrape_down(two, &target(), 3000);
    let last = |name: &str| {
        s.select(&[Matcher::equal("__name__", name)])[0]
            .last_at_or_before(4000)
            .unwrap()
    };
    assert_eq!(
        last("a"),
        (2000, 2.0),
        "a is untouched by b's target going down"
    );
    assert!(is_stale(last("b").1));
    let r = s
        .ingest_scrape(one, &target(), 4000, b"c 1\n", &opts)
        .unwrap();
    assert_eq!(r.stale_marked, 1, "a, by its own target");
    // The same labels without a URL are a third target.
    s.mark_target_down(&target(), 5000);
    assert_eq!(
        s.select(&[Matcher::equal("__name__", "c")])[0].last_at_or_before(5000),
        Some((4000, 1.0))
    );
}

/// Demonstrates that series kept only by the pattern fill at most half of `max_series`: past
/// it they are dropped (counted as the cap's) while series of named metrics are still created
/// up to the cap; a named metric the pattern also matches counts as named.
#[test]
fn pattern_series_fill_half_the_store() {
    let mut s = Store::new(StoreConfig {
        max_series: 6,
        metric_filter: Some(["named".to_string(), "istio_named".to_string()].into()),
        ..StoreConfig::default()
    });
    s.set_keep_pattern(Some(regex::Regex::new("^(?:istio_.*)$").unwrap()));
    let r = s
        .ingest(
            &target(),
            1000,
            b"istio_a{i=\"1\"} 1\nistio_a{i=\"2\"} 1\nistio_a{i=\"3\"} 1\nistio_a{i=\"4\"} 1\nnamed{i=\"1\"} 1\nistio_named{i=\"1\"} 1\nnamed{i=\"2\"} 1\nnamed{i=\"3\"} 1\n",
        )
        .unwrap();
    assert_eq!(
        (r.new_series, r.dropped_series_limit, r.dropped_pattern),
        (6, 1, 1)
    );
    assert_eq!(s.select(&[Matcher::equal("__name__", "istio_a")]).len(), 3);
    assert_eq!(s.select(&[Matcher::equal("__name__", "named")]).len(), 2);
    assert_eq!(
        s.select(&[Matcher::equal("__name__", "istio_named")]).len(),
        1
    );

    // The target's series limit and the scrape's sample limit: pattern series stop at half,
    // dropped without failing the scrape; named ones go on to the limit, then fail it.
    let body = |n: usize, names: &[&str]| -> String {
        names
            .iter()
            .flat_map(|m| (0..n).map(move |i| format!("{m}{{i=\"{i}\"}} 1\n")))
            .collect()
    };
    let fresh = || {
        let mut s = Store::new(StoreConfig {
            metric_filter: Some(["named".to_string()].into()),
            ..StoreConfig::default()
        });
        s.set_keep_pattern(Some(regex::Regex::new("^(?:istio_.*)$").unwrap()));
        s
    };
    let mut s = fresh();
    s.set_target_series_limit(4);
    let three_and_two = body(3, &["istio_a"]) + &body(2, &["named"]);
    let r = s.ingest(&target(), 1000, three_and_two.as_bytes()).unwrap();
    assert_eq!(
        (r.new_series, r.dropped_pattern),
        (4, 1),
        "2 istio_a, 2 named"
    );
    let e = s
        .ingest(&target(), 2000, body(3, &["named"]).as_bytes())
        .unwrap_err();
    assert!(
        matches!(e, Error::TargetSeriesLimit { limit: 4, over: 1 }),
        "{e}"
    );
    let mut s = fresh();
    s.set_sample_limit(4);
    let r = s.ingest(&target(), 1000, three_and_two.as_bytes()).unwrap();
    assert_eq!((r.samples, r.dropped_pattern), (4, 1));
    let e = s
        .ingest(&target(), 2000, body(5, &["named"]).as_bytes())
        .unwrap_err();
    assert!(matches!(e, Error::SampleLimit { limit: 4, over: 1 }), "{e}");
}

/// Demonstrates the two steps of an ingest with another target's scrape between them (callers
/// prepare under a shared lock): a query between them still reads the previous scrape, and a
/// series retention drops in between loses that one sample and is created again by the next
/// scrape.
#[test]
fn prepare_then_commit_with_another_scrape_between() {
    let mut s = Store::new(StoreConfig {
        retention: Duration::from_secs(10),
        ..StoreConfig::default()
    });
    let other = vec![("instance".into(), "b".into()), ("job".into(), "j".into())];
    let opts = ParseOptions::default();
    s.ingest(&target(), 0, b"old 1\nm 1\n").unwrap();
    s.ingest(&target(), 5_000, b"m 2\n").unwrap();
    s.ingest(&target(), 10_000, b"m 2.5\n").unwrap();
    let old = |s: &Store, t| {
        s.select(&[Matcher::equal("__name__", "old")])
            .first()
            .and_then(|x| x.last_at_or_before(t))
    };
    assert!(old(&s, 5_000).is_some_and(|(t, v)| t == 5_000 && is_stale(v)));
    let prepared = s.prepare("", &target(), 16_000, b"old 3\nm 3\n", &opts);
    // Prepared, not written.
    let m = s.select(&[Matcher::equal("__name__", "m")]);
    assert_eq!(m[0].last_at_or_before(16_000), Some((10_000, 2.5)));
    // Another target's scrape runs retention: `old` (stale since 5 s) is dropped.
    s.ingest(&other, 16_000, b"x 1\n").unwrap();
    assert_eq!(old(&s, 16_000), None);
    let r = s.commit(prepared).unwrap();
    assert_eq!(r.samples, 1, "m written, old's sample lost");
    let m = s.select(&[Matcher::equal("__name__", "m")]);
    assert_eq!(m[0].last_at_or_before(16_000), Some((16_000, 3.0)));
    let r = s.ingest(&target(), 17_000, b"old 4\nm 4\n").unwrap();
    assert_eq!((r.samples, r.new_series), (2, 1));
    assert_eq!(old(&s, 17_000), Some((17_000, 4.0)));
}

/// Demonstrates fair shares of a full store: a target arriving when others have filled
/// `max_series` gets its series by dropping the newest series of the largest holder (above its
/// share), that holder's next scrape has those refused, and a target within its share keeps
/// everything.
#[test]
fn a_full_store_makes_room_for_a_target_below_its_share() {
    let mut s = Store::new(StoreConfig {
        max_series: 10,
        ..StoreConfig::default()
    });
    let t = |name: &str| vec![("instance".to_string(), name.to_string())];
    let body = |ids: std::ops::Range<u32>| {
        ids.map(|i| format!("m{{id=\"{i}\"}} 1\n"))
            .collect::<String>()
    };
    s.ingest(&t("big"), 0, body(0..6).as_bytes()).unwrap();
    s.ingest(&t("small"), 0, body(0..4).as_bytes()).unwrap();
    assert_eq!(s.series_count(), 10);
    // A third target: its share is 10 / 3 = 3; it takes 2 from the big one (6 > 3).
    let r = s.ingest(&t("late"), 1000, body(0..2).as_bytes()).unwrap();
    assert_eq!((r.new_series, r.evicted, r.dropped_series_limit), (2, 2, 0));
    assert_eq!(s.series_count(), 10);
    let of = |s: &Store, who: &str| {
        let mut ids: Vec<String> = s
            .select(&[Matcher::equal("instance", who)])
            .iter()
            .map(|x| x.labels.get("id").unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        of(&s, "big"),
        ["0", "1", "2", "3"],
        "its newest two dropped"
    );
    // The big target's next scrape: its two dropped series are refused (it holds 4 > 3).
    let r = s.ingest(&t("big"), 2000, body(0..6).as_bytes()).unwrap();
    assert_eq!((r.samples, r.new_series, r.dropped_series_limit), (4, 0, 2));
    // The small one (4 > 3, but nobody below its share asks) keeps all of its series.
    let r = s.ingest(&t("small"), 2000, body(0..4).as_bytes()).unwrap();
    assert_eq!((r.samples, r.evicted, r.dropped_series_limit), (4, 0, 0));
    let r = s.ingest(&t("late"), 3000, body(0..3).as_bytes()).unwrap();
    assert_eq!(
        (r.new_series, r.evicted),
        (1, 1),
        "its third series, within its share"
    );
    let r = s.ingest(&t("late"), 4000, body(0..4).as_bytes()).unwrap();
    assert_eq!(
        (r.new_series, r.evicted, r.dropped_series_limit),
        (0, 0, 1),
        "a fourth is beyond its share"
    );
}

/// Demonstrates that a body of many tiny lines past the sample limit is not recorded whole
/// before the limit is applied (at most twice the limit is), and the excess is still counted.
#[test]
fn prepare_records_at_most_twice_the_sample_limit() {
    let mut s = Store::new(StoreConfig::default());
    s.set_sample_limit(3);
    let body: String = (0..1000).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    let p = s.prepare(
        "",
        &target(),
        1000,
        body.as_bytes(),
        &ParseOptions::default(),
    );
    assert_eq!(p.recorded(), 6);
    let e = s.commit(p).unwrap_err();
    assert!(
        matches!(
            e,
            Error::SampleLimit {
                limit: 3,
                over: 997
            }
        ),
        "{e}"
    );
    assert_eq!(s.series_count(), 3);
}
