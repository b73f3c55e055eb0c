mod common;
use common::Fake;
use millpond::Pool;
#[test]
fn smoke() {
    let fake = Fake::new();
    let pool = Pool::builder().pool_size(2).max_overflow(Some(1)).build(fake.clone()).unwrap();
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    let c = pool.get().unwrap();
    assert!(pool.try_get().unwrap().is_none());
    assert_eq!(pool.state().in_use, 3);
    drop((a, b, c));
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 2, 0), "{s:?}");
    assert_eq!(fake.state.closes(), 1);
}
