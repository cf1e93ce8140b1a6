//! Which policies select a pod does not change between connections: the
//! evaluators remember it per pod, so a matrix costs one selector pass per pod
//! rather than one per connection.

use palisade_compiler::model::{ClusterModel, Pod};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

/// Indices of the policies that select each pod of one model, by the pod's
/// position in `model.pods`; forgotten when another model is asked about
#[derive(Default)]
pub struct Selection {
    model: Cell<(usize, usize)>,
    by_pod: RefCell<Vec<Option<Rc<[usize]>>>>,
}

impl Selection {
    /// The remembered indices for `pod`, or `compute` them now
    pub fn of(&self, model: &ClusterModel, pod: &Pod, compute: impl FnOnce() -> Vec<usize>) -> Rc<[usize]> {
        // The model is identified by where its pods live and how many there are.
        let base = model.pods.as_ptr() as usize;
        if self.model.get() != (base, model.pods.len()) {
            self.model.set((base, model.pods.len()));
            *self.by_pod.borrow_mut() = vec![None; model.pods.len()];
        }
        let offset = (pod as *const Pod as usize).wrapping_sub(base) / std::mem::size_of::<Pod>().max(1);
        let index = (offset < model.pods.len() && model.pods.get(offset).is_some_and(|p| std::ptr::eq(p, pod)))
            .then_some(offset);
        if let Some(found) = index.and_then(|i| self.by_pod.borrow().get(i).cloned().flatten()) {
            return found;
        }
        let computed: Rc<[usize]> = compute().into();
        if let Some(i) = index {
            if let Some(slot) = self.by_pod.borrow_mut().get_mut(i) {
                *slot = Some(computed.clone());
            }
        }
        computed
    }
}
