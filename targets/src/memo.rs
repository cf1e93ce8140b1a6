//! Which policies select a pod does not change between connections: the
//! evaluators remember it per pod, so a matrix costs one selector pass per pod
//! rather than one per connection.

use palisade_compiler::model::{ClusterModel, Pod};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

/// Something worked out once per pod of one model, by the pod's position
/// in `model.pods`; forgotten when another model is asked about
pub struct PerPod<T> {
    model: Cell<(usize, usize)>,
    by_pod: RefCell<Vec<Option<T>>>,
}

impl<T> Default for PerPod<T> {
    fn default() -> Self {
        Self {
            model: Cell::new((0, 0)),
            by_pod: RefCell::new(Vec::new()),
        }
    }
}

impl<T: Clone> PerPod<T> {
    /// The remembered value for `pod`, or `compute` it now (a pod that is
    /// not one of the model's is computed every time)
    pub fn get_or(&self, model: &ClusterModel, pod: &Pod, compute: impl FnOnce() -> T) -> T {
        // The model is identified by where its pods live and how many there are.
        let base = model.pods.as_ptr() as usize;
        if self.model.get() != (base, model.pods.len()) {
            self.model.set((base, model.pods.len()));
            *self.by_pod.borrow_mut() = std::iter::repeat_with(|| None).take(model.pods.len()).collect();
        }
        let offset = (pod as *const Pod as usize).wrapping_sub(base) / std::mem::size_of::<Pod>().max(1);
        let index = (offset < model.pods.len() && model.pods.get(offset).is_some_and(|p| std::ptr::eq(p, pod)))
            .then_some(offset);
        if let Some(found) = index.and_then(|i| self.by_pod.borrow().get(i).cloned().flatten()) {
            return found;
        }
        let computed = compute();
        if let Some(i) = index {
            if let Some(slot) = self.by_pod.borrow_mut().get_mut(i) {
                *slot = Some(computed.clone());
            }
        }
        computed
    }
}

/// Indices of the policies that select each pod of one model
#[derive(Default)]
pub struct Selection(PerPod<Rc<[usize]>>);

impl Selection {
    /// The remembered indices for `pod`, or `compute` them now
    pub fn of(&self, model: &ClusterModel, pod: &Pod, compute: impl FnOnce() -> Vec<usize>) -> Rc<[usize]> {
        self.0.get_or(model, pod, || compute().into())
    }
}
