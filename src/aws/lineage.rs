//! Where an AMI comes from and what was derived from it, read from `gio-ami:parent-ami` tags.

use crate::aws::inventory::Image;
use crate::core::tags;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Node {
    pub id: String,
    /// `None` for an ancestor outside this account (an EKS-optimized base, say).
    pub name: Option<String>,
    pub parent: Option<String>,
    /// 0 for the oldest known ancestor.
    pub depth: usize,
    pub description: Option<String>,
    /// The AMI that was asked about.
    pub target: bool,
}

/// The chain from the oldest known ancestor down to `target`, then everything derived from
/// `target`, depth first (siblings by creation date).
pub fn lineage(images: &[Image], target: &str) -> Vec<Node> {
    let by_id: HashMap<&str, &Image> = images.iter().map(|i| (i.id.as_str(), i)).collect();
    let parent_of = |image: &Image| image.tags.get(tags::PARENT_AMI).cloned();

    let mut ancestry = Vec::new();
    let mut next = Some(target.to_string());
    while let Some(id) = next.take() {
        if ancestry.iter().any(|(seen, _): &(String, Option<&Image>)| *seen == id) {
            break; // a tag loop (hand-edited tags): stop rather than spin
        }
        let image = by_id.get(id.as_str()).copied();
        next = image.and_then(parent_of);
        ancestry.push((id, image));
    }
    ancestry.reverse();

    let mut nodes: Vec<Node> = ancestry
        .iter()
        .enumerate()
        .map(|(depth, (id, image))| node(id, *image, depth, id == target))
        .collect();

    let mut children: HashMap<String, Vec<&Image>> = HashMap::new();
    for image in images {
        if let Some(parent) = parent_of(image) {
            children.entry(parent).or_default().push(image);
        }
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    }
    let mut stack: Vec<(&Image, usize)> =
        children.get(target).map(|c| c.iter().rev().map(|i| (*i, nodes.len())).collect()).unwrap_or_default();
    while let Some((image, depth)) = stack.pop() {
        if nodes.iter().any(|n| n.id == image.id) {
            continue;
        }
        nodes.push(node(image.id.as_str(), Some(image), depth, false));
        if let Some(c) = children.get(image.id.as_str()) {
            stack.extend(c.iter().rev().map(|i| (*i, depth + 1)));
        }
    }
    nodes
}

fn node(id: &str, image: Option<&Image>, depth: usize, target: bool) -> Node {
    Node {
        id: id.to_string(),
        name: image.map(|i| i.name.clone()),
        parent: image.and_then(|i| i.tags.get(tags::PARENT_AMI).cloned()),
        depth,
        description: image.and_then(|i| i.description.clone()),
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    fn child(id: &str, parent: &str, created: &str) -> Image {
        let mut image = image(id, created, &[]);
        image.tags.insert(tags::PARENT_AMI.into(), parent.into());
        image
    }

    #[test]
    fn from_the_base_down_then_the_children() {
        let images = vec![
            child("ami-0000000a", "ami-eks00000", "2026-01-01"),
            child("ami-0000000b", "ami-0000000a", "2026-01-02"),
            child("ami-0000000c", "ami-0000000b", "2026-01-03"),
            child("ami-0000000d", "ami-0000000b", "2026-01-04"),
            child("ami-0000000e", "ami-0000000c", "2026-01-05"),
            child("ami-0000000f", "ami-0000000a", "2026-01-06"),
        ];
        let nodes = lineage(&images, "ami-0000000b");
        let got: Vec<(&str, usize, bool)> =
            nodes.iter().map(|n| (n.id.as_str(), n.depth, n.target)).collect();
        assert_eq!(
            got,
            [
                ("ami-eks00000", 0, false),
                ("ami-0000000a", 1, false),
                ("ami-0000000b", 2, true),
                ("ami-0000000c", 3, false),
                ("ami-0000000e", 4, false),
                ("ami-0000000d", 3, false),
            ],
            "the sibling ami-0000000f of the target's parent is not part of its lineage"
        );
        assert_eq!(nodes[0].name, None, "the base lives outside this account");
    }

    #[test]
    fn tag_loops_end() {
        let images =
            vec![child("ami-0000000a", "ami-0000000b", "1"), child("ami-0000000b", "ami-0000000a", "2")];
        let nodes = lineage(&images, "ami-0000000a");
        assert!(nodes.len() <= 2, "{nodes:?}");
    }
}
